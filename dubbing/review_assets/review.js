// The review page's behaviour: language tabs, the source playing along with the dub, a line played
// on its own, and the "only lines that need a look" filter. Works from file:// and over http.
(function () {
  "use strict";
  var sections = Array.prototype.slice.call(document.querySelectorAll("section.lang"));
  var tabs = Array.prototype.slice.call(document.querySelectorAll("nav.tabs button"));

  function show(code) {
    sections.forEach(function (s) {
      s.hidden = s.dataset.lang !== code;
      if (s.hidden) s.querySelectorAll("video, audio").forEach(function (m) { m.pause(); });
    });
    tabs.forEach(function (t) { t.setAttribute("aria-selected", String(t.dataset.tab === code)); });
    if (history.replaceState) history.replaceState(null, "", "#" + code);
  }
  tabs.forEach(function (t) { t.addEventListener("click", function () { show(t.dataset.tab); }); });
  var wanted = decodeURIComponent((location.hash || "").slice(1));
  if (sections.length) {
    show(sections.some(function (s) { return s.dataset.lang === wanted; }) ? wanted : sections[0].dataset.lang);
  }

  sections.forEach(function (sec) {
    var dub = sec.querySelector(".dub"), src = sec.querySelector(".src");
    var follow = sec.querySelector(".follow"), stopAt = null;
    var following = function () { return dub && src && follow && follow.checked; };

    // subtitles on the dub: only over http, where the browser may load the .vtt beside the video
    if (dub && dub.dataset.vtt && /^https?:$/.test(location.protocol)) {
      var track = document.createElement("track");
      track.kind = "subtitles"; track.src = dub.dataset.vtt; track.srclang = dub.dataset.lang;
      track.label = dub.dataset.lang; track.default = true;
      dub.appendChild(track);
    }
    if (dub && src) {
      src.muted = true;
      dub.addEventListener("play", function () {
        if (!following()) return;
        src.currentTime = dub.currentTime;
        var p = src.play(); if (p && p.catch) p.catch(function () {});
      });
      dub.addEventListener("pause", function () { if (following()) src.pause(); });
      dub.addEventListener("seeked", function () { if (following()) src.currentTime = dub.currentTime; });
      dub.addEventListener("ratechange", function () { if (following()) src.playbackRate = dub.playbackRate; });
    }
    if (dub) {
      dub.addEventListener("timeupdate", function () {
        if (following() && !dub.paused && Math.abs(src.currentTime - dub.currentTime) > 0.25) src.currentTime = dub.currentTime;
        if (stopAt !== null && dub.currentTime >= stopAt) { stopAt = null; dub.pause(); }
      });
    }
    var both = sec.querySelector(".play-both");
    if (both && dub) both.addEventListener("click", function () {
      if (follow) follow.checked = true;
      stopAt = null;
      if (dub.paused) { var p = dub.play(); if (p && p.catch) p.catch(function () {}); } else dub.pause();
    });
    sec.querySelectorAll("button.seek").forEach(function (b) {
      b.addEventListener("click", function () {
        if (!dub) return;
        var row = b.closest("tr");
        sec.querySelectorAll("tr.playing").forEach(function (r) { r.classList.remove("playing"); });
        row.classList.add("playing");
        dub.currentTime = Math.max(0, parseFloat(row.dataset.start) - 0.3);
        stopAt = parseFloat(row.dataset.end) + 0.3;
        var p = dub.play(); if (p && p.catch) p.catch(function () {});
        dub.scrollIntoView({ block: "nearest", behavior: "smooth" });
      });
    });
    var only = sec.querySelector(".only-look"), table = sec.querySelector("table.lines");
    if (only && table) only.addEventListener("change", function () { table.classList.toggle("only-look", only.checked); });
  });
})();
