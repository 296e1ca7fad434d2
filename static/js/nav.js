// The top bar on a narrow screen: the links fold behind a Menu button (app.css shows the
// button below 720 px only). Without this script the links simply wrap.

const bar = document.getElementById('topbar');
const toggle = bar?.querySelector('.nav-toggle');

function setOpen(open) {
  bar.classList.toggle('open', open);
  toggle.setAttribute('aria-expanded', String(open));
}

if (toggle) {
  bar.classList.add('js-nav');
  toggle.addEventListener('click', () => setOpen(!bar.classList.contains('open')));
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && bar.classList.contains('open')) {
      setOpen(false);
      toggle.focus();
    }
  });
}
