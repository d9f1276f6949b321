// The Suppress page: plain JavaScript against the JSON API of the same server (no build step, no CDN).
'use strict';

const $ = (id) => document.getElementById(id);

const state = {
  tab: 'generate',
  tokens: [],          // [{index, text, token}] of the current prompt
  selected: new Set(), // token indices clicked
  job: null,           // the current job's id
  events: null,        // its EventSource
  tokenRequest: 0,     // to drop answers to outdated prompts
};

function showError(message) {
  const box = $('error');
  box.textContent = message;
  box.hidden = false;
}

function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

async function loadModel() {
  const response = await fetch('/api/v1/model');
  const model = await response.json();
  let text = `Model: ${model.folder} (${model.backend}, ${model.precision}`;
  if (model.defaultImageSize) {
    text += `, ${model.defaultImageSize} px`;
  }
  text += ')';
  if (model.builtInRandomModel) {
    text += ' - the built-in tiny model has RANDOM weights: it draws noise, it only shows that everything runs.';
  }
  $('model').textContent = text;
}

async function tokenize() {
  const prompt = $('prompt').value;
  const request = ++state.tokenRequest;
  const response = await fetch('/api/v1/tokens', {
    method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({prompt}),
  });
  if (request !== state.tokenRequest) {
    return;
  }
  const body = await response.json();
  if (!response.ok) {
    showError(body.error);
    return;
  }
  // keep a clicked token clicked when the same token is still at its index
  const kept = new Set();
  for (const token of body.tokens) {
    const old = state.tokens.find((t) => t.index === token.index);
    if (state.selected.has(token.index) && old && old.token === token.token) {
      kept.add(token.index);
    }
  }
  state.tokens = body.tokens;
  state.selected = kept;
  renderTokens();
}

function renderTokens() {
  const box = $('tokens');
  box.textContent = '';
  for (const token of state.tokens) {
    const chip = document.createElement('button');
    chip.type = 'button';
    chip.className = 'chip' + (state.selected.has(token.index) ? ' selected' : '');
    chip.dataset.index = token.index;
    chip.dataset.text = token.text;
    chip.title = `token ${token.index}: ${token.token}`;
    chip.append(token.text);
    const index = document.createElement('span');
    index.className = 'index';
    index.textContent = token.index;
    chip.append(index);
    chip.addEventListener('click', () => {
      if (state.selected.has(token.index)) {
        state.selected.delete(token.index);
      } else {
        state.selected.add(token.index);
      }
      renderTokens();
    });
    box.append(chip);
  }
}

function numberField(id) {
  const value = $(id).value.trim();
  return value === '' ? undefined : Number(value);
}

/** The options the form describes, named as the API (and the CLI's long options in camelCase) names them. */
function options() {
  const words = $('words').value.split(',').map((w) => w.trim()).filter((w) => w.length > 0);
  const json = {prompt: $('prompt').value};
  if (words.length > 0) {
    json.suppress = words;
  }
  if (state.selected.size > 0) {
    json.tokenIndices = [...state.selected].sort((a, b) => a - b);
  }
  if (state.tab === 'generate') {
    json.seed = numberField('seed');
  }
  json.steps = numberField('steps');
  json.mode = $('mode').value;
  json.guidance = numberField('guidance');
  if ($('strengthen').checked) {
    json.strengthen = true;
  } else {
    json.itoIterations = numberField('itoIterations');
  }
  const size = numberField('size');
  if (size) {
    json.size = size;
  }
  // a non-square image: width and height (the server refuses them together with size)
  const width = numberField('width');
  if (width) {
    json.width = width;
  }
  const height = numberField('height');
  if (height) {
    json.height = height;
  }
  if ($('suppressedOnly').checked) {
    json.suppressedOnly = true;
  }
  if (state.tab === 'edit') {
    json.inversion = $('inversion').value;
  }
  for (const key of Object.keys(json)) {
    if (json[key] === undefined || Number.isNaN(json[key])) {
      delete json[key];
    }
  }
  return json;
}

async function start() {
  clearError();
  let response;
  if (state.tab === 'edit') {
    const photo = $('photo').files[0];
    if (!photo) {
      showError('image: choose a photo to edit');
      return;
    }
    const form = new FormData();
    form.append('image', photo);
    form.append('options', JSON.stringify(options()));
    response = await fetch('/api/v1/jobs', {method: 'POST', body: form});
  } else {
    response = await fetch('/api/v1/jobs', {
      method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(options()),
    });
  }
  const body = await response.json();
  if (!response.ok) {
    showError(body.field ? `${body.field}: ${body.error}` : body.error);
    return;
  }
  follow(body);
}

function follow(job) {
  if (state.events) {
    state.events.close();
  }
  state.job = job.id;
  $('result').hidden = true;
  show(job);
  const events = new EventSource(`/api/v1/jobs/${job.id}/events`);
  state.events = events;
  events.addEventListener('progress', (event) => show(JSON.parse(event.data)));
  for (const end of ['done', 'failed', 'cancelled']) {
    events.addEventListener(end, (event) => {
      events.close();
      show(JSON.parse(event.data));
    });
  }
}

function show(job) {
  if (job.id !== state.job) {
    return;
  }
  const percent = Math.round(job.progress * 100);
  $('progress').style.width = percent + '%';
  $('progress-text').textContent = percent + '%';
  $('cancel').disabled = job.state !== 'queued' && job.state !== 'running';
  let status = `Job ${job.id.substring(0, 8)}: ${job.state}`;
  if (job.state === 'queued') {
    status += job.queuePosition > 0 ? ` (${job.queuePosition} ahead of it)` : ' (next)';
  } else if (job.state === 'running' && job.steps) {
    status += job.phase === 'inversion' ? ` - inverting the photo` : ` - step ${job.step}/${job.steps} (${job.phase})`;
  } else if (job.wallTimeSeconds !== null && job.state !== 'running') {
    status += ` in ${job.wallTimeSeconds.toFixed(1)} s`;
  }
  $('status').textContent = status;
  const warnings = job.warnings || [];
  $('warnings').textContent = warnings.map((w) => `warning: ${w}`).join('\n');
  $('warnings').hidden = warnings.length === 0;
  $('ito').textContent = job.ito
    ? `ITO at step ${job.ito.step}: iteration ${job.ito.iteration}/${job.ito.iterations}, loss ${job.ito.loss === null ? '-' : job.ito.loss.toFixed(6)}`
    : '';
  if (job.state === 'failed') {
    showError(job.error);
  }
  if (job.state === 'done') {
    showResult(job);
  }
}

function showResult(job) {
  const images = job.images;
  const original = images.original || images.reconstruction;
  $('original-figure').hidden = !original;
  if (original) {
    $('original').src = original;
    $('original-caption').textContent = images.reconstruction ? 'inverted photo, regenerated' : 'original';
  }
  $('suppressed').src = images.suppressed;
  $('heatmaps').src = images['cross-attention'];
  $('options').textContent = JSON.stringify(job.options, null, 2);
  const work = job.unetWork;
  $('summary').textContent = `suppressed tokens ${job.suppressedTokens.join(', ')}; `
    + `UNet work ${work.forwardEquivalents.toFixed(1)} forward-equivalents `
    + `(${work.noisePredictions} noise predictions, ${work.attentionPasses} attention passes, `
    + `${work.gradientProbes} gradient probes); wall time ${job.wallTimeSeconds.toFixed(1)} s; `
    + `last ITO losses ${job.itoFinalLosses.map((l) => (l === null ? '-' : l.toFixed(4))).join(', ')}`;
  $('result').hidden = false;
}

async function cancel() {
  if (!state.job) {
    return;
  }
  const response = await fetch(`/api/v1/jobs/${state.job}`, {method: 'DELETE'});
  if (!response.ok) {
    showError((await response.json()).error);
  }
}

function selectTab(tab) {
  state.tab = tab;
  $('tab-generate').classList.toggle('active', tab === 'generate');
  $('tab-edit').classList.toggle('active', tab === 'edit');
  $('edit-fields').hidden = tab !== 'edit';
  $('seed').disabled = tab === 'edit';
}

let tokenTimer = null;
$('prompt').addEventListener('input', () => {
  clearTimeout(tokenTimer);
  tokenTimer = setTimeout(tokenize, 150);
});
$('start').addEventListener('click', start);
$('cancel').addEventListener('click', cancel);
$('tab-generate').addEventListener('click', () => selectTab('generate'));
$('tab-edit').addEventListener('click', () => selectTab('edit'));
loadModel().catch((e) => showError('Cannot reach the server: ' + e));
tokenize().catch((e) => showError('Cannot reach the server: ' + e));
