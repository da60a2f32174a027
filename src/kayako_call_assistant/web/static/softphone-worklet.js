// Audio worklets of the browser softphone (they run on the audio thread, off the page's main thread).
//
// mulaw-capture: the microphone at the context's rate (usually 48 kHz) -> low-pass -> 8 kHz -> G.711 μ-law,
//   posted as 20 ms frames (160 bytes), each with whether it was voiced (for the page's latency numbers).
// mulaw-player: μ-law frames from the server -> PCM at the context's rate through a small jitter buffer;
//   marks are reported back when the audio before them has actually been played; "clear" drops everything.
//
// Hand-written: the Web Audio API has no μ-law codec and no resampler to 8 kHz, and a
// telephone-band filter plus G.711 are a few dozen lines (the table-free G.711 of ITU-T G.191's reference).

const FRAME = 160; // 20 ms at 8 kHz

function linearToMulaw(sample) {
  // sample: float in [-1, 1] -> 8-bit μ-law (G.711, bias 0x84, clip 32635)
  let pcm = Math.max(-1, Math.min(1, sample)) * 32767;
  const sign = pcm < 0 ? 0x80 : 0;
  if (sign) pcm = -pcm;
  pcm = Math.min(pcm, 32635) + 0x84;
  let exponent = 7;
  for (let mask = 0x4000; (pcm & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (pcm >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

function mulawToLinear(byte) {
  const u = ~byte & 0xff;
  const exponent = (u >> 4) & 0x07;
  const magnitude = ((((u & 0x0f) << 3) + 0x84) << exponent) - 0x84;
  return ((u & 0x80) ? -magnitude : magnitude) / 32768;
}

// A windowed-sinc low-pass FIR (Blackman window): keeps the telephone band, removes what would alias.
function lowPass(rate, cutoff, taps) {
  const h = new Float32Array(taps);
  const fc = cutoff / rate;
  const mid = (taps - 1) / 2;
  let sum = 0;
  for (let i = 0; i < taps; i++) {
    const x = i - mid;
    const sinc = x === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * x) / (Math.PI * x);
    const w = 0.42 - 0.5 * Math.cos((2 * Math.PI * i) / (taps - 1)) + 0.08 * Math.cos((4 * Math.PI * i) / (taps - 1));
    h[i] = sinc * w;
    sum += h[i];
  }
  for (let i = 0; i < taps; i++) h[i] /= sum;
  return h;
}

class MulawCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / 8000; // input samples per output sample (6 at 48 kHz)
    this.filter = lowPass(sampleRate, 3400, 63);
    this.history = new Float32Array(this.filter.length); // ring of the latest inputs
    this.pos = 0;
    this.next = 0; // input-sample count at which the next 8 kHz sample is due
    this.count = 0;
    this.frame = new Uint8Array(FRAME);
    this.filled = 0;
    this.energy = 0;
    this.active = true;
    this.port.onmessage = (event) => { if (event.data === "stop") this.active = false; };
  }

  filtered() {
    const h = this.filter, x = this.history, n = h.length;
    let acc = 0;
    for (let i = 0; i < n; i++) acc += h[i] * x[(this.pos - 1 - i + 2 * n) % n];
    return acc;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return this.active;
    for (let i = 0; i < channel.length; i++) {
      this.history[this.pos] = channel[i];
      this.pos = (this.pos + 1) % this.history.length;
      this.count++;
      if (this.count >= this.next) {
        this.next += this.step;
        const y = this.filtered();
        this.energy += y * y;
        this.frame[this.filled++] = linearToMulaw(y);
        if (this.filled === FRAME) {
          const rms = Math.sqrt(this.energy / FRAME);
          this.port.postMessage({ frame: this.frame, voiced: rms > 0.01 }, [this.frame.buffer]);
          this.frame = new Uint8Array(FRAME);
          this.filled = 0;
          this.energy = 0;
        }
      }
    }
    return this.active;
  }
}

class MulawPlayer extends AudioWorkletProcessor {
  constructor() {
    super();
    this.ratio = 8000 / sampleRate; // 8 kHz samples per output sample
    this.queue = []; // Float32Array chunks at 8 kHz, and {mark} entries in order
    this.buffered = 0; // 8 kHz samples queued
    this.chunk = null;
    this.offset = 0; // fractional read position in this.chunk
    this.previous = 0;
    this.playing = false;
    this.prime = 8000 * 0.06; // the jitter buffer: start a talk spurt only with 60 ms in hand
    this.active = true;
    this.port.onmessage = (event) => this.command(event.data);
  }

  command(data) {
    if (data.type === "media") {
      const pcm = new Float32Array(data.bytes.length);
      for (let i = 0; i < pcm.length; i++) pcm[i] = mulawToLinear(data.bytes[i]);
      this.queue.push(pcm);
      this.buffered += pcm.length;
    } else if (data.type === "mark") {
      this.queue.push({ mark: data.name });
    } else if (data.type === "tag") {
      this.queue.push({ tag: true }); // reported when playback reaches this point (the reply's first sample)
    } else if (data.type === "clear") {
      // As Twilio does: drop the buffered audio and send back every pending mark.
      const marks = this.queue.filter((item) => item.mark !== undefined).map((item) => item.mark);
      if (this.queue.some((item) => item.tag)) this.port.postMessage({ type: "tag", cleared: true });
      this.queue = [];
      this.chunk = null;
      this.buffered = 0;
      this.playing = false;
      this.port.postMessage({ type: "cleared", marks });
    } else if (data.type === "stop") {
      this.active = false;
    }
  }

  // The next queued audio chunk; marks before it are reported as played.
  advance() {
    while (this.queue.length) {
      const item = this.queue.shift();
      if (item.mark !== undefined) {
        this.port.postMessage({ type: "played", mark: item.mark });
        continue;
      }
      if (item.tag) {
        this.port.postMessage({ type: "tag" });
        continue;
      }
      this.chunk = item;
      this.offset = 0;
      return true;
    }
    this.chunk = null;
    return false;
  }

  process(_inputs, outputs) {
    const out = outputs[0][0];
    if (!this.playing) {
      const onlyMarks = this.queue.length && this.buffered === 0;
      if (this.buffered >= this.prime || (this.queue.length && this.queue[this.queue.length - 1].mark !== undefined) || onlyMarks) {
        this.playing = true;
        if (this.buffered > 0) this.port.postMessage({ type: "started" });
      }
    }
    for (let i = 0; i < out.length; i++) {
      if (!this.playing) { out[i] = 0; continue; }
      if ((!this.chunk || this.offset >= this.chunk.length) && !this.advance()) {
        this.playing = false; // underrun: silence until the buffer is primed again
        this.port.postMessage({ type: "drained" });
        out[i] = 0;
        continue;
      }
      const at = Math.floor(this.offset);
      const frac = this.offset - at;
      const a = at === 0 ? this.previous : this.chunk[at - 1];
      const b = this.chunk[at];
      out[i] = a + (b - a) * frac; // linear interpolation up from 8 kHz: enough for telephone audio
      this.offset += this.ratio;
      if (this.offset >= this.chunk.length) {
        this.previous = this.chunk[this.chunk.length - 1];
        this.buffered -= this.chunk.length;
      }
    }
    return this.active;
  }
}

registerProcessor("mulaw-capture", MulawCapture);
registerProcessor("mulaw-player", MulawPlayer);
