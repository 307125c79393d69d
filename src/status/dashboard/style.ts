// The dashboard's stylesheet, inline (the page loads nothing else). Light and
// dark by the reader's preference; below 640 px the cards go two by two and
// each child's table row becomes a card of label/value lines. ASCII only: the
// page's bytes and the CSP hash must not depend on an encoding.

export const DASHBOARD_CSS = `
:root{--bg:#f4f6f9;--fg:#18202b;--muted:#5f6b7c;--card:#fff;--line:#dde2e9;--accent:#2563eb;--accent-soft:rgba(37,99,235,.14);
--ok:#0f8a5f;--warn:#c2670b;--bad:#c62f3b;--run:#2563eb;--on-run:#fff;--mono:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#0e1217;--fg:#e5e9ef;--muted:#95a1b2;--card:#161c24;--line:#28313d;--accent:#6ea1ff;
--accent-soft:rgba(110,161,255,.18);--ok:#38c189;--warn:#f0a040;--bad:#ff6b76;--run:#6ea1ff;--on-run:#0e1217}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
a{color:var(--accent)}
.top{position:sticky;top:0;z-index:2;display:flex;flex-wrap:wrap;align-items:center;gap:.35rem 1.1rem;padding:.6rem 1rem;
background:var(--card);border-bottom:1px solid var(--line)}
.brand{font-weight:700;letter-spacing:.01em}
.brand span{color:var(--muted);font-weight:500}
.live{display:inline-flex;align-items:center;gap:.45rem;font-size:.86rem;color:var(--muted);font-variant-numeric:tabular-nums}
.dot{width:.62rem;height:.62rem;border-radius:50%;background:var(--muted);flex:none}
.live.up .dot{background:var(--ok);box-shadow:0 0 0 3px rgba(15,138,95,.18)}
.live.down .dot{background:var(--bad);box-shadow:0 0 0 3px rgba(198,47,59,.2)}
.live.down{color:var(--bad);font-weight:600}
.links{margin-left:auto;display:flex;gap:.8rem;font-size:.84rem}
.banner{margin:1rem auto 0;max-width:1200px;padding:.65rem .9rem;border-radius:8px;border:1px solid var(--bad);color:var(--bad);
background:rgba(198,47,59,.08);font-weight:600}
.banner[hidden]{display:none}
main{max-width:1200px;margin:0 auto;padding:.9rem 1rem 2rem}
.pool{margin-bottom:2rem;transition:opacity .3s}
.pool.stale{opacity:.55;filter:grayscale(.7)}
.pool-head{display:flex;flex-wrap:wrap;align-items:baseline;gap:.3rem .8rem;margin:.2rem 0 .8rem}
.pool-head h2{margin:0;font-size:1.35rem}
.badge{display:inline-block;padding:.08rem .5rem;border-radius:999px;font-size:.75rem;font-weight:600;background:var(--accent-soft);color:var(--accent)}
.meta{color:var(--muted);font-size:.86rem}
.note{color:var(--warn);font-size:.86rem;font-weight:600}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(10.5rem,1fr));gap:.7rem}
.card,.chart,.procs-wrap{background:var(--card);border:1px solid var(--line);border-radius:10px}
.card{padding:.7rem .85rem}
.label{font-size:.72rem;text-transform:uppercase;letter-spacing:.06em;color:var(--muted);font-weight:600}
.value{font-size:1.75rem;font-weight:650;line-height:1.2;margin:.15rem 0;font-variant-numeric:tabular-nums}
.value.hot{color:var(--warn)}
.sub{font-size:.8rem;color:var(--muted);font-variant-numeric:tabular-nums}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(19rem,1fr));gap:.7rem;margin-top:.7rem}
.chart{padding:.7rem .85rem .55rem}
.chart-head{display:flex;justify-content:space-between;gap:.5rem;align-items:baseline}
.legend{display:flex;gap:.7rem;font-size:.78rem;color:var(--muted)}
.legend i{display:inline-block;width:.7rem;height:.18rem;border-radius:2px;vertical-align:middle;margin-right:.25rem}
.chart svg{display:block;width:100%;height:96px;margin-top:.35rem}
.axis{display:flex;justify-content:space-between;font-size:.72rem;color:var(--muted);font-variant-numeric:tabular-nums}
.s-rate{fill:var(--accent-soft);stroke:var(--accent);stroke-width:1.6}
.s-busy{fill:none;stroke:var(--accent);stroke-width:1.6}
.s-queue{fill:none;stroke:var(--warn);stroke-width:1.6}
.s-base{stroke:var(--line);stroke-width:1}
.i-busy{background:var(--accent)}
.i-queue{background:var(--warn)}
h3{margin:1.2rem 0 .5rem;font-size:1.02rem}
h3 .meta{font-weight:400;margin-left:.4rem}
.procs-wrap{overflow-x:auto}
table.procs{width:100%;border-collapse:collapse;font-size:.86rem}
.procs th{text-align:left;font-size:.7rem;text-transform:uppercase;letter-spacing:.05em;color:var(--muted);padding:.55rem .6rem;
border-bottom:1px solid var(--line);white-space:nowrap}
.procs td{padding:.5rem .6rem;border-bottom:1px solid var(--line);vertical-align:top;font-variant-numeric:tabular-nums}
.procs tr:last-child td{border-bottom:0}
.procs td.uri{font-family:var(--mono);font-size:.82rem;overflow-wrap:anywhere;min-width:12rem}
.procs td.script{font-family:var(--mono);font-size:.78rem;color:var(--muted);overflow-wrap:anywhere}
.procs tr.running td{background:var(--accent-soft)}
.procs tr.self td{background:none}
.procs td.num{text-align:right}
.state{display:inline-block;padding:.05rem .45rem;border-radius:999px;font-size:.74rem;font-weight:600;white-space:nowrap;
background:rgba(127,127,127,.14);color:var(--muted)}
.running .state{background:var(--run);color:var(--on-run)}
.reading .state{background:var(--warn);color:var(--on-run)}
.self .state{background:rgba(127,127,127,.14);color:var(--muted)}
.long{color:var(--warn);font-weight:650}
.tag{display:block;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;font-size:.72rem;color:var(--muted)}
footer{max-width:1200px;margin:0 auto;padding:0 1rem 2rem;color:var(--muted);font-size:.8rem}
@media (max-width:640px){
body{font-size:14px}
.top{padding:.5rem .75rem}
.links{margin-left:0;width:100%}
main{padding:.7rem .6rem 1.5rem}
.cards{grid-template-columns:1fr 1fr;gap:.5rem}
.card{padding:.55rem .65rem}
.value{font-size:1.4rem}
.charts{grid-template-columns:1fr}
.procs-wrap{background:none;border:0;overflow:visible}
.procs thead{display:none}
.procs,.procs tbody{display:block;width:100%}
.procs tr{display:grid;grid-template-columns:repeat(3,minmax(0,1fr));gap:.35rem .6rem;background:var(--card);border:1px solid var(--line);
border-radius:10px;margin-bottom:.55rem;padding:.6rem .7rem}
.procs tr.running{border-color:var(--run);box-shadow:inset 3px 0 0 var(--run)}
.procs tr.running td{background:none}
.procs td{display:block;border:0;padding:0;min-width:0}
.procs td.num{text-align:left}
.procs td::before{display:block;content:attr(data-label);color:var(--muted);font-size:.66rem;text-transform:uppercase;letter-spacing:.05em;
font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
.procs td.c-state{order:1}.procs td.c-pid{order:2}.procs td.c-duration{order:3}
.procs td.c-request{order:4;grid-column:1/-1;min-width:0;font-size:.86rem}
.procs td.c-method{order:5}.procs td.c-requests{order:6}.procs td.c-started{order:7}
.procs td.c-script{order:8;grid-column:1/-1}
.procs td.c-user{order:9}.procs td.c-length{order:10}.procs td.c-cpu{order:11}.procs td.c-memory{order:12}
.label{letter-spacing:.03em}
}
`;
