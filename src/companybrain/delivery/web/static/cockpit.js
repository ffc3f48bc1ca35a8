// Company Brain cockpit: small progressive enhancements. Every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // sliders show their value
  for (const out of document.querySelectorAll("output[data-for]")) {
    const input = document.getElementById(out.dataset.for);
    if (input) input.addEventListener("input", () => { out.textContent = input.value; });
  }
  // the what-if builder shows (and sends) only the fields of the chosen kind of change
  const kind = document.getElementById("kind");
  const sync = () => {
    for (const set of document.querySelectorAll("fieldset[data-kind]")) {
      set.hidden = set.dataset.kind !== kind.value;
      set.disabled = set.hidden;
    }
  };
  if (kind) { kind.addEventListener("change", sync); sync(); }
  // the period picker shows its dates only for a period of chosen dates
  const period = document.getElementById("period");
  const dates = () => {
    for (const label of document.querySelectorAll("#picker .dates")) label.hidden = period.value !== "custom";
  };
  if (period) { period.addEventListener("change", dates); dates(); }
  // long-running forms say so instead of looking stuck
  for (const form of document.querySelectorAll("form[data-busy]")) {
    form.addEventListener("submit", () => {
      for (const button of form.querySelectorAll("button[type=submit]")) {
        button.disabled = true;
        button.textContent = form.dataset.busy;
      }
    });
  }
});
