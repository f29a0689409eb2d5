/*
 * The admin's call page: the recording player and the transcript.
 *
 * - A recording the browser cannot load (a dead link, a host that refuses it, a format it cannot
 *   play) shows the page's "Recording could not be loaded" message instead of a silent 0:00.
 * - A transcript turn with a time offset seeks the player to the turn's start and plays; while
 *   the recording plays, the turn being spoken is highlighted.
 *
 * A static file, because the Content-Security-Policy allows no inline script.
 */
(function () {
  "use strict";

  function showError(audio) {
    const message = audio.parentElement.querySelector(".cs-recording-error");
    if (message) {
      message.hidden = false;
    }
    // Nothing to seek: the turns stop looking clickable.
    document.querySelectorAll(".cs-conversation.cs-seekable").forEach((conversation) => {
      conversation.classList.remove("cs-seekable");
    });
  }

  function wireRecording(audio) {
    audio.addEventListener("error", () => showError(audio));
    // The error may have happened before this script ran.
    if (audio.error || audio.networkState === HTMLMediaElement.NETWORK_NO_SOURCE) {
      showError(audio);
    }
  }

  function wireTranscript(audio, conversation) {
    const turns = Array.from(conversation.querySelectorAll(".cs-turn[data-start-ms]"));
    if (!turns.length) {
      return;
    }
    conversation.classList.add("cs-seekable");
    const starts = turns.map((turn) => Number(turn.dataset.startMs) / 1000);

    function seek(index) {
      audio.currentTime = starts[index];
      const playing = audio.play();
      if (playing && playing.catch) {
        playing.catch(() => {}); // the error event already says why it cannot play
      }
    }

    turns.forEach((turn, index) => {
      turn.tabIndex = 0;
      turn.setAttribute("role", "button");
      turn.title = "Play from here";
      turn.addEventListener("click", () => seek(index));
      turn.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          seek(index);
        }
      });
    });

    audio.addEventListener("timeupdate", () => {
      let current = -1;
      starts.forEach((start, index) => {
        if (start <= audio.currentTime) {
          current = index;
        }
      });
      turns.forEach((turn, index) => turn.classList.toggle("cs-turn-playing", index === current));
    });
  }

  function start() {
    const audio = document.querySelector("audio[data-cs-recording]");
    if (!audio) {
      return;
    }
    const conversation = document.querySelector(".cs-conversation");
    if (conversation) {
      wireTranscript(audio, conversation);
    }
    wireRecording(audio);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
