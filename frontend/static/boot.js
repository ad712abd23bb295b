// Loads the wallboard's wasm; no inline script, so a strict CSP holds.
import init from "/wallboard.js";
init({ module_or_path: "/wallboard_bg.wasm" });
