// Starts GOV.UK Frontend's components (error summary focus, conditional radios,
// character count…). Loaded as <script type="module" src="/static/js/govuk-init.js">
// on every page: there is no inline script (CSP), so the classes GOV.UK Frontend
// and our CSS key on are added here.
import { initAll } from '../vendor/govuk-frontend/govuk-frontend.min.js';

document.body.classList.add('govuk-frontend-supported', 'js-enabled');
initAll();
