// The join page: type the code shown by the presenter, go to that session's audience page.
(function () {
  "use strict";
  var form = document.getElementById("join"), input = document.getElementById("code");
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var code = input.value.replace(/[^A-Za-z0-9]/g, "").toUpperCase();
    if (code) window.location.href = "/live/" + encodeURIComponent(code);
  });
  input.focus();
})();
