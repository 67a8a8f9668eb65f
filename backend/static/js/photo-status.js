// Poll the photo job's state while it is pending and swap the new photo in.
(function () {
  "use strict";
  var status = document.getElementById("photo-status");
  if (!status) return;
  var labels = { queued: "Your new photo is queued.", processing: "Your new photo is being processed." };
  function render(data) {
    var job = data.job;
    status.dataset.state = job ? job.state : "";
    status.textContent = "";
    if (job && labels[job.state]) status.textContent = labels[job.state];
    if (job && job.state === "failed") {
      var span = document.createElement("span");
      span.className = "error";
      span.textContent = "Your last photo could not be used: " + job.error;
      status.appendChild(span);
    }
    if (job && job.state === "done" && data.photo_url) {
      status.textContent = "Your new photo is ready.";
      var holder = document.getElementById("current-photo");
      var img = document.createElement("img");
      img.src = data.photo_url; img.alt = "Your profile photo"; img.width = 256; img.height = 256; img.id = "photo-img";
      holder.replaceChildren(img);
    }
  }
  function poll() {
    fetch(status.dataset.statusUrl, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        render(data);
        if (data.job && (data.job.state === "queued" || data.job.state === "processing")) setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  var state = status.dataset.state;
  if (state === "queued" || state === "processing") setTimeout(poll, 1000);
})();
