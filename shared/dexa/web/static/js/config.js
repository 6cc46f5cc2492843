// The server-provided config (event types, modes, models, integration catalogue) from the shell page.
const el = document.getElementById('dexa-config');
export const config = el ? JSON.parse(el.textContent) : { eventTypes: [], modes: [], models: [], providers: [] };
