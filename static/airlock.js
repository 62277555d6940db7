// Airlock console: the little the pages do in the browser. Everything works
// without it; this only adds copying a new key to the clipboard, suggesting a
// tenant's address from its name, and a "Keep it" button that closes a
// confirmation (without it, its summary closes it).
"use strict";
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) return;
  var source = document.getElementById(button.getAttribute("data-copy"));
  if (!source || !navigator.clipboard) return;
  navigator.clipboard.writeText(source.textContent.trim()).then(function () {
    button.textContent = "Copied";
  }, function () {
    button.textContent = "Select and copy it";
  });
});

// The tenant form suggests an address from the name until the address is typed
// into: lowercase letters, digits and dashes, at most 40.
function suggestedSlug(name) {
  return name
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40)
    .replace(/-+$/, "");
}
document.addEventListener("input", function (event) {
  var field = event.target;
  var form = field.form;
  if (!form || !form.hasAttribute("data-suggest-slug")) return;
  var slug = form.querySelector('input[name="slug"]');
  if (!slug) return;
  if (field === slug) {
    slug.setAttribute("data-typed", "yes");
  } else if (field.name === "name" && slug.getAttribute("data-typed") !== "yes") {
    slug.value = suggestedSlug(field.value);
  }
});

document.addEventListener("click", function (event) {
  var keep = event.target.closest("[data-close-details]");
  if (!keep) return;
  var details = keep.closest("details");
  if (!details) return;
  details.open = false;
  var summary = details.querySelector("summary");
  if (summary) summary.focus();
});
