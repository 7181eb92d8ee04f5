/**
 * The embeddable web chat widget: one script tag
 *     <script src="https://HOST/v1/bots/NAME/widget.js" data-key="sk-mf-..." async></script>
 * renders a small chat box (a launcher button and a panel) in a shadow root, sends the visitor's question to
 * POST /v1/bots/NAME/chat/completions with the key, and shows the answer with its citations (document, article,
 * passage on hover/expand; candidates below the bot's confidence bar under "不确定 · not sure"), and 有帮助 / 没帮助 buttons under each answer (POST /v1/bots/NAME/feedback with the answer's
 * response id: the review queue that feeds training). Owns the script's source text. Guarantees: no dependencies, no globals besides one
 * custom element; answers and citations are inserted as text (never HTML), so nothing the bot or a visitor says can
 * run script on the host page; attributes: data-key (required), data-title, data-placeholder, data-open ("true").
 */

export function widgetScript(bot: string, origin: string): string {
  const cfg = JSON.stringify({ bot, origin });
  return `/* modelfab bot widget: ${bot.replace(/[^A-Za-z0-9_.-]/g, '')} */
(function () {
  var CFG = ${cfg};
  var me = document.currentScript;
  var key = me && me.getAttribute('data-key');
  var title = (me && me.getAttribute('data-title')) || CFG.bot;
  var placeholder = (me && me.getAttribute('data-placeholder')) || '输入您的问题…';
  var base = (me && me.src) ? new URL(me.src).origin : CFG.origin;
  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }
  var host = el('div'); host.setAttribute('data-modelfab-bot', CFG.bot);
  var root = host.attachShadow({ mode: 'open' });
  var style = el('style');
  style.textContent = [
    ':host{all:initial}',
    '.mf-launch{position:fixed;right:20px;bottom:20px;z-index:2147483000;border:0;border-radius:24px;padding:10px 16px;background:#1f6feb;color:#fff;font:14px sans-serif;cursor:pointer;box-shadow:0 2px 8px rgba(0,0,0,.2)}',
    '.mf-panel{position:fixed;right:20px;bottom:70px;z-index:2147483000;width:360px;max-width:calc(100vw - 40px);height:480px;max-height:calc(100vh - 100px);display:none;flex-direction:column;background:#fff;border:1px solid #d0d7de;border-radius:10px;box-shadow:0 4px 16px rgba(0,0,0,.2);font:14px/1.5 sans-serif;color:#1f2328}',
    '.mf-panel.open{display:flex}',
    '.mf-head{padding:10px 12px;font-weight:600;border-bottom:1px solid #d0d7de}',
    '.mf-log{flex:1;overflow:auto;padding:10px 12px}',
    '.mf-msg{margin:6px 0;white-space:pre-wrap;word-break:break-word}',
    '.mf-user{text-align:right;color:#0550ae}',
    '.mf-bot{background:#f6f8fa;border-radius:8px;padding:8px}',
    '.mf-cites{margin-top:6px;font-size:12px;color:#57606a}',
    '.mf-cite{display:block;margin-top:4px}',
    '.mf-unsure{color:#9a6700;font-weight:600}',
    '.mf-cite details{margin-top:2px}',
    '.mf-form{display:flex;border-top:1px solid #d0d7de}',
    '.mf-input{flex:1;border:0;padding:10px;font:14px sans-serif;outline:none}',
    '.mf-send{border:0;background:#1f6feb;color:#fff;padding:0 14px;cursor:pointer}',
    '.mf-error{color:#cf222e}',
    '.mf-fb{margin-top:6px;font-size:12px;color:#57606a}',
    '.mf-fb button{border:1px solid #d0d7de;background:#fff;border-radius:12px;padding:1px 8px;margin-right:6px;cursor:pointer;font:12px sans-serif}'
  ].join('\\n');
  root.appendChild(style);
  var launch = el('button', 'mf-launch', title); launch.type = 'button'; launch.setAttribute('part', 'launcher');
  var panel = el('div', 'mf-panel'); panel.setAttribute('role', 'dialog'); panel.setAttribute('aria-label', title);
  var head = el('div', 'mf-head', title);
  var log = el('div', 'mf-log'); log.setAttribute('aria-live', 'polite');
  var form = el('form', 'mf-form');
  var input = el('input', 'mf-input'); input.type = 'text'; input.placeholder = placeholder; input.setAttribute('aria-label', placeholder);
  var send = el('button', 'mf-send', '发送'); send.type = 'submit';
  form.appendChild(input); form.appendChild(send);
  panel.appendChild(head); panel.appendChild(log); panel.appendChild(form);
  root.appendChild(launch); root.appendChild(panel);
  var history = [];
  function open(v) { panel.classList.toggle('open', v); if (v) input.focus(); }
  launch.addEventListener('click', function () { open(!panel.classList.contains('open')); });
  function add(cls, text) { var m = el('div', 'mf-msg ' + cls, text); log.appendChild(m); log.scrollTop = log.scrollHeight; return m; }
  function showCitations(box, cites) {
    if (!cites || !cites.length) return;
    var c = el('div', 'mf-cites'); c.setAttribute('data-role', 'citations');
    var unsure = cites.some(function (x) { return x.sure === false; });
    if (unsure) c.setAttribute('data-sure', 'false');
    c.appendChild(el('span', unsure ? 'mf-unsure' : null, unsure ? '不确定 · not sure — 可能相关的出处：' : '出处：'));
    cites.forEach(function (x) {
      var line = el('span', 'mf-cite');
      line.setAttribute('data-article', x.article == null ? '' : String(x.article));
      line.appendChild(el('span', null, '[' + x.ref + '] ' + (x.document || '') + ' ' + (x.label || '')));
      var d = el('details'); d.appendChild(el('summary', null, '原文')); d.appendChild(el('div', null, x.passage || ''));
      line.appendChild(d);
      c.appendChild(line);
    });
    box.appendChild(c);
  }
  function showFeedback(box, id) {
    if (!id) return;
    var f = el('div', 'mf-fb'); f.setAttribute('data-role', 'feedback');
    [['right', '👍 有帮助'], ['wrong', '👎 没帮助']].forEach(function (x) {
      var b = el('button', null, x[1]); b.type = 'button'; b.setAttribute('data-label', x[0]);
      b.addEventListener('click', function () {
        f.textContent = '…';
        fetch(base + '/v1/bots/' + encodeURIComponent(CFG.bot) + '/feedback', {
          method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + key },
          body: JSON.stringify({ response_id: id, label: x[0] })
        }).then(function (r) { f.textContent = r.ok ? '谢谢您的反馈' : '反馈未能提交'; }).catch(function () { f.textContent = '反馈未能提交'; });
      });
      f.appendChild(b);
    });
    box.appendChild(f);
  }
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var q = input.value.trim(); if (!q) return;
    input.value = ''; add('mf-user', q);
    var pending = add('mf-bot', '…');
    history.push({ role: 'user', content: q });
    fetch(base + '/v1/bots/' + encodeURIComponent(CFG.bot) + '/chat/completions', {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + key },
      body: JSON.stringify({ model: CFG.bot, messages: history.slice(-6) })
    }).then(function (r) { return r.json().then(function (j) { return { ok: r.ok, j: j }; }); }).then(function (res) {
      if (!res.ok) { pending.textContent = (res.j && res.j.error && res.j.error.message) || '出错了'; pending.classList.add('mf-error'); return; }
      var text = res.j.choices[0].message.content;
      pending.textContent = text;
      history.push({ role: 'assistant', content: text });
      showCitations(pending, res.j.citations);
      showFeedback(pending, res.j.id);
    }).catch(function (e) { pending.textContent = '网络错误：' + e.message; pending.classList.add('mf-error'); });
  });
  function mount() { document.body.appendChild(host); if (me && me.getAttribute('data-open') === 'true') open(true); }
  if (!key) { console.error('modelfab widget: data-key is missing'); }
  if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);
})();
`;
}
