// Show the photo job's progress without a reload: server-sent events from
// /live/photo-events/, or polling the status endpoint when the stream keeps
// failing. Without JavaScript the page shows the state as of its last load.
(function () {
  "use strict";
  var status = document.getElementById("photo-status");
  if (!status) return;
  var MAX_STREAM_FAILURES = 3;
  var labels = {
    queued: "Your new photo is queued.",
    processing: "Your new photo is being processed.",
    done: "Your new photo is ready."
  };

  function pending(state) {
    return state === "queued" || state === "processing";
  }

  // Server text (the failure reason) only ever goes in through textContent.
  function showState(job) {
    var key = job ? job.id + ":" + job.state : "";
    if (key === status.dataset.key) return; // unchanged: say nothing again
    var wasPending = pending(status.dataset.state);
    status.dataset.key = key;
    status.dataset.state = job ? job.state : "";
    status.textContent = "";
    if (!job) return;
    if (job.state === "failed") {
      var span = document.createElement("span");
      span.className = "error";
      span.textContent = "Your last photo could not be used: " + job.error;
      status.appendChild(span);
    } else if (job.state !== "done" || wasPending) {
      status.textContent = labels[job.state] || "";
    }
  }

  function showPhoto(url) {
    var current = document.getElementById("photo-img");
    if (!url || (current && current.getAttribute("src") === url)) return;
    var img = document.createElement("img");
    img.src = url;
    img.alt = "Your profile photo";
    img.width = 256;
    img.height = 256;
    img.id = "photo-img";
    document.getElementById("current-photo").replaceChildren(img);
  }

  function render(data) {
    showState(data.job);
    showPhoto(data.photo_url);
  }

  function poll() {
    fetch(status.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.redirected || r.status === 403) return null; // signed out: stop
        if (!r.ok) throw new Error("status " + r.status);
        return r.json();
      })
      .then(function (data) {
        if (!data) return;
        render(data);
        if (data.job && pending(data.job.state)) setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }

  function pollWhilePending() {
    if (pending(status.dataset.state)) setTimeout(poll, 1000);
  }

  function stream() {
    var failures = 0;
    var source = new EventSource(status.dataset.eventsUrl);
    source.addEventListener("photo", function (event) {
      failures = 0;
      render(JSON.parse(event.data));
    });
    source.addEventListener("error", function () {
      // The browser reconnects by itself (and the first event after that is
      // the current state); give up on streaming only if that keeps failing.
      failures += 1;
      if (source.readyState === EventSource.CLOSED || failures >= MAX_STREAM_FAILURES) {
        source.close();
        status.dataset.transport = "polling";
        pollWhilePending();
      }
    });
    status.dataset.transport = "events";
  }

  status.dataset.key = status.dataset.job ? status.dataset.job + ":" + status.dataset.state : "";
  if (window.EventSource && status.dataset.eventsUrl) stream();
  else pollWhilePending();
})();
