/* A facility's history page: an admin rolls the facility layer back to a version (the
   write API's POST /api/layers/facilities/rollback), after saying so on the page itself
   (no browser dialog). The page is then drawn again from the server. */
(function () {
  "use strict";
  var SM = window.SM, t = SM.t;
  var box = document.getElementById("sm-rollback-confirm");
  var status = document.getElementById("sm-rollback-status");
  var main = document.getElementById("main");
  var chosen = null;
  document.body.dataset.ready = "1";
  if (!box) return;
  Array.prototype.forEach.call(document.querySelectorAll("button.sm-rollback"), function (b) {
    b.addEventListener("click", function () {
      chosen = parseInt(b.getAttribute("data-version"), 10);
      document.getElementById("sm-rollback-question").textContent =
        t("history_rollback_question", { v: chosen });
      box.hidden = false;
      b.parentNode.appendChild(box);
      document.getElementById("sm-rollback-reason").focus();
    });
  });
  document.getElementById("sm-rollback-cancel").addEventListener("click", function () {
    box.hidden = true;
    chosen = null;
  });
  document.getElementById("sm-rollback-go").addEventListener("click", function () {
    if (chosen === null) return;
    var reason = document.getElementById("sm-rollback-reason").value;
    SM.send("POST", main.getAttribute("data-rollback-url"), { version: chosen, reason: reason })
      .then(function (answer) {
        status.textContent = t("history_rolled_back", { v: answer.to_version });
        window.location.reload();
      }, function (err) { status.textContent = String(err.message || err); });
  });
})();
