// The map's stylesheet (inline: the file must open anywhere, offline). Grouping colours and the
// pure-CSS highlight of one grouping (a checkbox in the legend, :has()) are generated per map.

/** Distinct on white and for common colour blindness (Tableau 10 plus two). */
export const PALETTE = [
  "#4e79a7",
  "#e15759",
  "#59a14f",
  "#b07aa1",
  "#f28e2b",
  "#76b7b2",
  "#9c755f",
  "#ff9da7",
  "#edc948",
  "#79706e",
  "#1f3a93",
  "#8cd17d",
];

export const colorOf = (i: number) => PALETTE[i % PALETTE.length] as string;

export const BASE_CSS = `
*{box-sizing:border-box}
body{font:13px/1.35 system-ui,"DejaVu Sans",sans-serif;margin:0;padding:16px 20px;color:#1d2530;background:#f4f6f8}
h1{font-size:20px;margin:0 0 2px}h2{font-size:15px;margin:0}h3{font-size:13px;margin:0}h4{font-size:12px;margin:0}h5{font-size:12px;margin:2px 0;font-weight:600}
small,.sub{color:#5b6673}a{color:inherit}
header{margin-bottom:10px}
.panel{background:#fff;border:1px solid #d5dbe1;border-radius:6px;padding:8px 10px;margin:0 0 10px}
.panel>h2{margin-bottom:4px}
.legend{display:flex;flex-wrap:wrap;gap:6px 18px;align-items:center}
.legend .key{display:flex;gap:6px;align-items:center}
.groupings{display:flex;flex-wrap:wrap;gap:4px 14px;margin-top:6px;padding-top:6px;border-top:1px solid #e3e7eb;width:100%}
details.groupings{display:block}details.groupings>summary{cursor:pointer}
.glist{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:3px 14px;margin-top:4px}
.groupings label{cursor:pointer;display:flex;gap:4px;align-items:center}
.groupings label.violated b{text-decoration:underline wavy #e8a33d}
.zones{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
.zone{flex:1 1 380px;min-width:0;background:#fff;border:2px solid #8aa1b4;border-radius:8px;padding:8px}
.zone>h2{display:flex;flex-wrap:wrap;gap:4px 8px;align-items:baseline;padding-bottom:4px;border-bottom:1px solid #d5dbe1;margin-bottom:6px}
.rack{border:1px dashed #a9b4be;border-radius:6px;padding:6px;margin:6px 0;background:#fbfcfd}
.rack>h3{display:flex;flex-wrap:wrap;gap:4px 8px;align-items:baseline;margin-bottom:4px}
.hosts{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:6px}
.host{border:1px solid #9db7d3;border-radius:5px;padding:5px;background:#eef5fc;min-width:0}
.host.opaque{background:#f3f3f3;border-style:dashed}
.host>h4{display:flex;flex-wrap:wrap;gap:3px 6px;align-items:baseline;overflow-wrap:anywhere}
.host.softv{border-color:#e8a33d;box-shadow:inset 0 0 0 1px #e8a33d}
.host.brk{border-color:#c62828;box-shadow:inset 0 0 0 1px #c62828}
.cap{display:grid;grid-template-columns:auto 1fr auto;gap:1px 5px;align-items:center;font-size:10px;color:#5b6673;margin:3px 0}
.bar{position:relative;height:7px;background:#e6e9ec;border-radius:3px;overflow:hidden;display:flex}
.bar s{background:#a7b0b8;display:block;height:100%}.bar u{background:#3f7fbf;display:block;height:100%}
ul.ms{list-style:none;margin:3px 0 0;padding:0;display:flex;flex-direction:column;gap:2px}
.m{display:flex;flex-wrap:wrap;gap:2px 5px;align-items:baseline;padding:1px 4px;border-radius:4px;border:1px solid transparent;overflow-wrap:anywhere}
.m.s{background:#fff;border-color:#c4d3e3}
.m.v{background:#fff7e8;border-color:#e6cf9f}
.m.sv{border:1px dashed #e8a33d}
.m:target{box-shadow:0 0 0 3px #1d2530}
.m a{text-decoration:none;color:#6b4a00}.m a:hover{text-decoration:underline}
a.far{color:#b3261e;font-weight:600}
.gs{display:inline-flex;gap:2px}
.gt{display:inline-block;min-width:15px;height:15px;border-radius:8px;padding:0 3px;color:#fff;font:600 10px/15px system-ui,"DejaVu Sans",sans-serif;text-align:center;font-style:normal}
.st{font-style:normal;font-size:10px;padding:0 3px;border-radius:3px;background:#dcefdc;color:#1f5e20}
.st.bad{background:#fde0dc;color:#a11b12}
.be{margin-top:4px;padding:3px 4px;border-radius:4px;background:#fdf3df;border:1px solid #ecd9b0}
.be.zonal{margin:6px 0}
.mk{font-size:10px;font-weight:600;padding:0 4px;border-radius:3px;white-space:nowrap}
.mk.soft{background:#fde7c2;color:#7a4a00}
.mk.cause{background:#c62828;color:#fff}
.mk.broken{background:#7b1fa2;color:#fff}
details.empty{margin-top:5px}
details.empty>summary{cursor:pointer;color:#48525d;font-size:12px}
.tiles{display:flex;flex-wrap:wrap;gap:2px;margin-top:4px}span.tiles{display:inline-flex;margin:0}
.tiles>b{font:10px/14px ui-monospace,"DejaVu Sans Mono",monospace;padding:0 3px;border-radius:2px;border:1px solid #cfd6dd;background:#fff;font-weight:400}
.tiles>.u1{background:#eaf1f7}.tiles>.u2{background:#d5e3ef}.tiles>.u3{background:#b9cfe3}.tiles>.u4{background:#98b6d3}
.tiles>.nf{background:repeating-linear-gradient(45deg,#f7c9c5 0 3px,#fff 3px 6px);border-color:#c62828}
.rack.q{background:#fff;border-color:#d5dbe1}
.causes ol,.softs ul{margin:4px 0;padding-left:22px}
.causes li{margin:2px 0}
.causes code{font-size:11px;background:#eef0f2;padding:0 3px;border-radius:3px}
table.reasons{border-collapse:collapse;font-size:12px;margin-top:4px}
table.reasons td,table.reasons th{border:1px solid #d5dbe1;padding:2px 6px;text-align:left;vertical-align:top}
footer{margin-top:12px;color:#5b6673;font-size:11px}
`;
