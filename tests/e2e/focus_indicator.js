// The focused element's focus indicator, for tests/e2e/a11y.py: the best contrast (against what it is drawn on) of
// its outline (at least 2px) or its box-shadow ring. Returns null when nothing but the body has focus.
() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const parse = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const blend = (under, c) => under.map((v, i) => v * (1 - c[3]) + c[i] * c[3]);
  const background = (node) => {
    const layers = [];
    for (let n = node; n && n.nodeType === 1; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c && c[3] > 0) {
        layers.push(c);
        if (c[3] >= 1) break;
      }
    }
    return layers.reverse().reduce(blend, [255, 255, 255]);
  };
  const luminance = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const contrast = (a, b) => {
    const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const s = getComputedStyle(el);
  const behind = background(el.parentElement || el);
  let best = 0;
  let how = "none";
  if (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2) {
    const c = s.outlineStyle === "auto" ? [16, 16, 16, 1] : parse(s.outlineColor);
    if (c) {
      best = contrast(blend(behind, c), behind);
      how = `outline ${s.outlineStyle} ${s.outlineWidth} ${s.outlineColor}`;
    }
  }
  if (best < 3 && s.boxShadow && s.boxShadow !== "none") {
    const c = parse(s.boxShadow);
    const ratio = c ? contrast(blend(behind, c), behind) : 0;
    if (ratio > best) {
      best = ratio;
      how = `box-shadow ${s.boxShadow}`;
    }
  }
  const classes = typeof el.className === "string" ? el.className.trim().split(/\s+/).slice(0, 2) : [];
  const text = (el.innerText || el.value || el.getAttribute("aria-label") || "").trim().slice(0, 30);
  const box = el.getBoundingClientRect();
  return {
    what: `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}${classes.length ? "." + classes.join(".") : ""} "${text}"`,
    contrast: Math.round(best * 100) / 100,
    how,
    shown: box.width > 0 && box.height > 0,
  };
}
