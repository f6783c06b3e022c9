"""Translation that reads the conversation (llm.Style.history): earlier lines of the page and the model's own
translations of them come as earlier chat turns, with speaker labels, and each prompt extends the one before
it so the model reads only the new turn."""

from __future__ import annotations

import re

import languages
from dubbing import llm

ES = languages.get("es")


class EchoLLM:
    """Answers every request with a numbered Spanish line; records the prompts."""

    def __init__(self):
        self.prompts: list[list[dict]] = []

    def create_chat_completion(self, messages, **kw):
        self.prompts.append(messages)
        reply = f"Esta es la frase número {len(self.prompts)}."
        return ({"choices": [{"delta": {"content": piece}}]} for piece in re.findall(r"\S+|\s+", reply))

    def tokenize(self, data: bytes, add_bos: bool = False):
        return data.split()


def items(n: int) -> list[llm.Item]:
    return [llm.Item(f"This is sentence number {i + 1}.", speaker=f"S{i % 2}", hint="at most 6 words") for i in range(n)]


def test_earlier_lines_and_their_translations_come_as_earlier_turns():
    fake = EchoLLM()
    got = llm.Translator(fake, llm.Style(history=2)).lines(items(5), "en", ES)
    assert [g.ok for g in got] == [True] * 5
    last = fake.prompts[4]  # line 5 (index 4) sees lines 3 and 4: the block before and its own block so far
    turns = [m["content"] for m in last[1:]]
    assert turns[0].endswith("This is sentence number 3.") and turns[1] == got[2].text
    assert turns[2].endswith("This is sentence number 4.") and turns[3] == got[3].text
    assert "S0's line" in turns[-1] and "S1's line" in turns[2]


def test_within_a_block_each_prompt_extends_the_one_before():
    fake = EchoLLM()
    llm.Translator(fake, llm.Style(history=3)).lines(items(6), "en", ES)
    for k in (1, 2, 4, 5):  # not at block starts (line 4 drops line 1)
        before, now = fake.prompts[k - 1], fake.prompts[k]
        assert now[:len(before)] == before, k


def test_line_alone_style_sends_no_history_and_no_labels():
    fake = EchoLLM()
    llm.Translator(fake, llm.Style(history=0)).lines(items(3), "en", ES)
    assert all(len(p) == 2 for p in fake.prompts) and not any("S1" in p[-1]["content"] for p in fake.prompts)


def test_the_history_window():
    assert list(llm.history_window(0, 4)) == [] and list(llm.history_window(3, 4)) == [0, 1, 2]
    assert list(llm.history_window(4, 4)) == [0, 1, 2, 3] and list(llm.history_window(9, 4)) == [4, 5, 6, 7, 8]


def test_one_speaker_pages_are_asked_without_labels():
    fake = EchoLLM()
    one = [llm.Item(f"This is sentence number {i + 1}.", speaker="S0", hint="at most 6 words") for i in range(4)]
    llm.Translator(fake, llm.Style(history=2)).lines(one, "en", ES)
    assert len(fake.prompts[3]) > 2  # the history is there
    assert not any("S0" in m["content"] for p in fake.prompts for m in p)
    assert all(p[-1]["content"].startswith("Translate into Spanish") for p in fake.prompts)


def test_a_line_asked_on_its_own_has_no_label():
    """A shortened line translated again (translate.shorten) is asked without history: no speaker label, as
    with the line-alone style."""
    fake = EchoLLM()
    llm.Translator(fake, llm.Style(history=2)).one(llm.Item("Asking for help.", "S1", "at most 3 words"), "en", ES)
    alone = EchoLLM()
    llm.Translator(alone, llm.Style(history=0)).one(llm.Item("Asking for help.", "S1", "at most 3 words"), "en", ES)
    assert fake.prompts == alone.prompts and "S1" not in fake.prompts[0][-1]["content"]
