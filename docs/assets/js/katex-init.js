// Render the equations that pymdownx.arithmatex (generic mode) leaves as \( .. \) and \[ .. \],
// with the KaTeX copy vendored in assets/katex (no network needed).
function glassnetRenderMath(root) {
  renderMathInElement(root, {
    delimiters: [
      { left: "\\(", right: "\\)", display: false },
      { left: "\\[", right: "\\]", display: true },
    ],
    throwOnError: false,
  });
}
if (typeof document$ !== "undefined") {
  document$.subscribe(({ body }) => glassnetRenderMath(body));
} else {
  document.addEventListener("DOMContentLoaded", () => glassnetRenderMath(document.body));
}
