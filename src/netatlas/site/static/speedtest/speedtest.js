// NetAtlas speed test: runs M-Lab's ndt7 client (window.ndt7) and sends the survey.
// Figures follow M-Lab: speed = 8 × bytes / elapsed time from the server's last TCPInfo
// (BytesAcked for download, BytesReceived for upload); latency = TCPInfo.MinRTT.
(function () {
  'use strict';

  const cfg = JSON.parse(document.getElementById('st-config').textContent);
  const form = document.getElementById('st-form');
  const $ = (id) => document.getElementById(id);
  const state = {download: null, upload: null, location: null, running: false};
  window.netatlasSpeedtest = state; // read by the browser test and handy when debugging

  function fmt(x) {
    if (x === null || x === undefined || !isFinite(x)) return '–';
    if (x >= 100) return x.toFixed(0);
    if (x >= 10) return x.toFixed(1);
    return x.toFixed(2);
  }

  function serverFigures(direction, m) {
    // The M-Lab figures from a server measurement, or nulls.
    const tcp = m && m.TCPInfo;
    if (!tcp || !tcp.ElapsedTime) return {mbps: null, minRtt: null};
    const bytes = direction === 'download' ? tcp.BytesAcked : tcp.BytesReceived;
    return {
      mbps: bytes !== undefined ? 8 * bytes / tcp.ElapsedTime : null,
      minRtt: tcp.MinRTT !== undefined ? tcp.MinRTT / 1000 : null,
    };
  }

  function answers() {
    const out = {};
    for (const f of cfg.form.fields) {
      if (f.type === 'multi-select') {
        out[f.name] = Array.from(form.querySelectorAll(`input[name="${f.name}"]:checked`))
            .map((el) => el.value);
      } else if (f.type === 'checkbox') {
        out[f.name] = form.elements[f.name].checked;
      } else if (f.type === 'number') {
        const v = form.elements[f.name].value.trim();
        out[f.name] = v === '' ? null : Number(v);
      } else {
        out[f.name] = form.elements[f.name].value;
      }
    }
    return out;
  }

  function clearErrors() {
    for (const el of form.querySelectorAll('.st-error')) el.textContent = '';
    for (const el of form.querySelectorAll('.st-invalid')) el.classList.remove('st-invalid');
  }

  function showErrors(fields) {
    let first = null;
    for (const [path, message] of Object.entries(fields)) {
      const name = path.startsWith('answers.') ? path.slice(8) : path.split('.')[0];
      const box = form.querySelector(`[data-field="${name}"]`);
      const target = box ? box.querySelector('.st-error') : $('st-form-error');
      target.textContent = (target.textContent ? target.textContent + ' ' : '') + message;
      if (box) {
        box.classList.add('st-invalid');
        first = first || box;
      }
    }
    if (first) first.scrollIntoView({block: 'center'});
  }

  function checkForm() {
    // The browser's own checks, reported next to each field in our words.
    const errors = {};
    for (const f of cfg.form.fields) {
      const v = answers()[f.name];
      const empty = v === null || v === '' || (Array.isArray(v) && v.length === 0) || v === false;
      if (f.required && empty) errors['answers.' + f.name] = 'required';
    }
    if (cfg.form.consent.required && !$('st-consent').checked) {
      errors.consent = 'required: tick the box to agree';
    }
    if (cfg.mode === 'mlab' && !$('st-mlab-policy').checked) {
      errors.mlab_policy = 'the test on M-Lab\'s servers needs this';
    }
    return errors;
  }

  function askLocation() {
    if (!$('st-share-location').checked || !$('st-consent').checked || !navigator.geolocation) {
      return;
    }
    navigator.geolocation.getCurrentPosition((pos) => {
      state.location = {
        latitude: pos.coords.latitude,
        longitude: pos.coords.longitude,
        accuracy: pos.coords.accuracy,
      };
    }, () => { /* refused or unavailable: the test runs anyway */ }, {timeout: 10000});
  }

  async function token() {
    if (!cfg.tokens_required) return null;
    const res = await fetch('/api/v1/speedtest/token', {method: 'POST'});
    if (!res.ok) throw new Error('could not get a test token');
    return (await res.json()).token;
  }

  function progress(phase, elapsed) {
    const share = Math.min(1, Math.max(0, elapsed / 10));
    const base = phase === 'download' ? 0 : 50;
    $('st-bar').style.width = (base + 50 * share).toFixed(1) + '%';
  }

  function callbacks() {
    const handlers = {};
    for (const direction of ['download', 'upload']) {
      const out = direction === 'download' ? $('st-down') : $('st-up');
      const result = {uuid: null, last: null, clientMbps: null, mbps: null, minRtt: null};
      state[direction] = result;
      handlers[direction + 'Start'] = () => {
        $('st-phase').textContent = direction === 'download' ?
          'Measuring download speed…' : 'Measuring upload speed…';
      };
      handlers[direction + 'Measurement'] = (m) => {
        if (m.Source === 'client') {
          result.clientMbps = m.Data.MeanClientMbps;
          out.textContent = fmt(m.Data.MeanClientMbps);
          progress(direction, m.Data.ElapsedTime);
        } else {
          result.last = m.Data;
          if (m.Data.ConnectionInfo && m.Data.ConnectionInfo.UUID) {
            result.uuid = m.Data.ConnectionInfo.UUID;
          }
          const f = serverFigures(direction, m.Data);
          if (direction === 'upload' && f.mbps !== null) out.textContent = fmt(f.mbps);
          if (direction === 'download' && f.minRtt !== null) {
            $('st-latency').textContent = fmt(f.minRtt);
          }
        }
      };
      handlers[direction + 'Complete'] = (data) => {
        const last = (data && data.LastServerMeasurement) || result.last;
        const f = serverFigures(direction, last);
        result.last = last || result.last;
        result.mbps = f.mbps !== null ? f.mbps : result.clientMbps;
        result.minRtt = f.minRtt;
        out.textContent = fmt(result.mbps);
        if (direction === 'download' && f.minRtt !== null) {
          $('st-latency').textContent = fmt(f.minRtt);
        }
        progress(direction, 10);
      };
    }
    handlers.serverChosen = (server) => {
      $('st-phase').textContent = 'Testing with ' + (server.machine || 'an M-Lab server') + '…';
    };
    handlers.error = (err) => {
      state.error = String(err);
      $('st-phase').textContent = 'The test failed: ' + err;
    };
    return handlers;
  }

  function judge(down, up, latency) {
    const list = $('st-uses');
    list.textContent = '';
    for (const u of cfg.use_cases) {
      const reasons = [];
      if (down !== null && down < u.min_download) reasons.push(`download under ${u.min_download} Mbit/s`);
      if (up !== null && up < u.min_upload) reasons.push(`upload under ${u.min_upload} Mbit/s`);
      if (latency !== null && latency > u.max_latency) reasons.push(`latency over ${u.max_latency} ms`);
      const unknown = down === null || up === null || latency === null;
      const li = document.createElement('li');
      li.dataset.use = u.key;
      li.className = reasons.length ? 'st-no' : (unknown ? 'st-unknown' : 'st-yes');
      li.textContent = u.label + ': ' + (reasons.length ? 'not well (' + reasons.join(', ') + ')' :
        (unknown ? 'not known' : 'yes'));
      list.appendChild(li);
    }
  }

  function testRef(direction) {
    const r = state[direction];
    if (!r || !r.uuid) return undefined;
    const ref = {uuid: r.uuid};
    if (cfg.mode === 'mlab' && r.last && r.last.TCPInfo) ref.tcpinfo = r.last.TCPInfo;
    return ref;
  }

  async function sendSurvey() {
    const body = {
      answers: answers(),
      consent: $('st-consent').checked,
      challenge_consent: $('st-challenge-consent').checked,
    };
    const down = testRef('download');
    const up = testRef('upload');
    if (down) body.download = down;
    if (up) body.upload = up;
    if (state.location && body.consent) body.location = state.location;
    const res = await fetch('/api/v1/survey', {
      method: 'POST',
      headers: {'Content-Type': 'application/json'},
      body: JSON.stringify(body),
    });
    const reply = await res.json().catch(() => ({}));
    state.survey = {status: res.status, reply: reply};
    if (res.status === 201) {
      $('st-saved').textContent = 'Thank you: your results and answers are saved.';
      return true;
    }
    const fields = reply.error && reply.error.details && reply.error.details.validation;
    if (fields) showErrors(fields);
    $('st-form-error').textContent = 'Please correct the answers marked above and send again.';
    $('st-start').textContent = 'Send my answers';
    form.hidden = false;
    return false;
  }

  async function run() {
    state.running = true;
    form.hidden = true;
    $('st-run').hidden = false;
    askLocation();
    const metadata = {client_name: cfg.client_name, client_version: cfg.client_version};
    const t = await token();
    if (t) metadata.access_token = t;
    const config = {
      metadata: metadata,
      downloadworkerfile: cfg.vendor + 'ndt7-download-worker.js',
      uploadworkerfile: cfg.vendor + 'ndt7-upload-worker.js',
    };
    if (cfg.mode === 'mlab') {
      config.userAcceptedDataPolicy = true; // the box above is required in this mode
    } else {
      config.mlabDataPolicyInapplicable = true; // our own server, our own data policy
      config.server = cfg.server || window.location.host;
      config.protocol = window.location.protocol === 'https:' ? 'wss' : 'ws';
    }
    const code = await window.ndt7.test(config, callbacks());
    state.code = code;
    const down = state.download.mbps;
    const up = state.upload.mbps;
    const latency = state.download.minRtt !== null ? state.download.minRtt : state.upload.minRtt;
    $('st-phase').textContent = code === 0 ? 'Done' : 'Done, with errors (see above)';
    $('st-result').hidden = false;
    judge(down, up, latency);
    state.running = false;
    state.done = await sendSurvey();
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    clearErrors();
    const errors = checkForm();
    if (Object.keys(errors).length) {
      showErrors(errors);
      return;
    }
    if (state.download && state.download.uuid) {
      // The test already ran: only the answers are being corrected.
      sendSurvey().then((ok) => { state.done = ok; });
      return;
    }
    run().catch((err) => {
      state.error = String(err);
      $('st-phase').textContent = 'The test could not run: ' + err;
    });
  });
})();
