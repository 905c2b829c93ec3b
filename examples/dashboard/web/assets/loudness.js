// Loudness and true peak of one audio source, as ITU-R BS.1770-4 and EBU R128
// define them: K-weighted power in 100 ms steps; momentary (400 ms),
// short-term (3 s) and integrated (gated: absolute -70 LUFS, relative -10 LU,
// 400 ms blocks with 75 % overlap) loudness in LUFS; true peak in dBTP from
// 4x oversampling (BS.1770 Annex 2). One pass per sample, nothing allocated
// while running.
//
// The monitor loads this file as an AudioWorklet module (the "loudness"
// processor, on the audio thread); loaded as a plain script it defines
// window.Loudness, which is how its unit test drives the same math.
"use strict";

// Annex 2's interpolation filter: 48 taps, four phases of 12.
const TRUE_PEAK_PHASES = [
  [0.001708984375, 0.010986328125, -0.0196533203125, 0.033203125, -0.0594482421875, 0.1373291015625,
    0.97216796875, -0.102294921875, 0.047607421875, -0.026611328125, 0.014892578125, -0.00830078125],
  [-0.0291748046875, 0.029296875, -0.0517578125, 0.089111328125, -0.16650390625, 0.465087890625,
    0.77978515625, -0.2003173828125, 0.1015625, -0.0582275390625, 0.0330810546875, -0.0189208984375],
  [-0.0189208984375, 0.0330810546875, -0.0582275390625, 0.1015625, -0.2003173828125, 0.77978515625,
    0.465087890625, -0.16650390625, 0.089111328125, -0.0517578125, 0.029296875, -0.0291748046875],
  [-0.00830078125, 0.014892578125, -0.026611328125, 0.047607421875, -0.102294921875, 0.97216796875,
    0.1373291015625, -0.0594482421875, 0.033203125, -0.0196533203125, 0.010986328125, 0.001708984375],
];
const TAPS = 12;
const HIST_MIN = -70, HIST_STEP = 0.01, HIST_BINS = 8000; // block loudness -70 … +10 LUFS in 0.01 LU

// kWeighting is BS.1770's two biquads (a high shelf for the head, a high pass
// for the RLB curve) for any sample rate, from their analogue prototypes; at
// 48 kHz they are the Recommendation's tabulated coefficients.
function kWeighting(rate) {
  let K = Math.tan((Math.PI * 1681.974450955533) / rate);
  let Q = 0.7071752369554196;
  const Vh = Math.pow(10, 3.999843853973347 / 20), Vb = Math.pow(Vh, 0.4996667741545416);
  let a0 = 1 + K / Q + K * K;
  const shelf = { b0: (Vh + (Vb * K) / Q + K * K) / a0, b1: (2 * (K * K - Vh)) / a0, b2: (Vh - (Vb * K) / Q + K * K) / a0,
    a1: (2 * (K * K - 1)) / a0, a2: (1 - K / Q + K * K) / a0 };
  K = Math.tan((Math.PI * 38.13547087602444) / rate);
  Q = 0.5003270373238773;
  a0 = 1 + K / Q + K * K;
  const highPass = { b0: 1, b1: -2, b2: 1, a1: (2 * (K * K - 1)) / a0, a2: (1 - K / Q + K * K) / a0 };
  return [shelf, highPass];
}

const dB10 = (p) => (p > 0 ? 10 * Math.log10(p) : -Infinity);
const lufs = (power) => -0.691 + dB10(power);

class Loudness {
  constructor(rate) {
    [this.shelf, this.highPass] = kWeighting(rate);
    this.step = Math.round(rate / 10); // samples in 100 ms
    // Per channel (two at most; BS.1770 weighs left and right 1.0 each): the
    // biquads' states and the last TAPS samples, written twice so that the
    // window is always one contiguous run.
    this.state = [new Float64Array(4), new Float64Array(4)];
    this.recent = [new Float64Array(2 * TAPS), new Float64Array(2 * TAPS)];
    this.at = 0; // where the next sample goes in recent
    this.sum = 0; // K-weighted sum of squares (channels summed) of this 100 ms
    this.n = 0; // samples in it
    this.steps = new Float64Array(30); // the last 3 s of 100 ms mean squares, a ring
    this.done = 0; // 100 ms steps so far
    this.count = new Float64Array(HIST_BINS); // gated blocks by loudness
    this.power = new Float64Array(HIST_BINS); // and their summed power
    this.peak = 0; // the largest |sample| of the 4x oversampled signal
  }

  // push takes one render quantum: one Float32Array per channel.
  push(channels) {
    const nch = Math.min(2, channels.length), len = channels[0].length;
    const { b0, b1, b2, a1, a2 } = this.shelf, h = this.highPass;
    for (let i = 0; i < len; i++) {
      const at = this.at;
      for (let c = 0; c < nch; c++) {
        const x = channels[c][i], s = this.state[c];
        // Direct form II transposed, the shelf then the high pass.
        const y = b0 * x + s[0];
        s[0] = b1 * x - a1 * y + s[1];
        s[1] = b2 * x - a2 * y;
        const z = y + s[2];
        s[2] = -2 * y - h.a1 * z + s[3];
        s[3] = y - h.a2 * z;
        this.sum += z * z;
        const r = this.recent[c];
        r[at] = r[at + TAPS] = x;
        this.truePeak(r, at + 1);
      }
      this.at = (at + 1) % TAPS;
      if (++this.n === this.step) this.endStep();
    }
  }

  // truePeak interpolates the four phases between the newest samples, the
  // window r[from … from+TAPS) oldest first.
  truePeak(r, from) {
    for (const taps of TRUE_PEAK_PHASES) {
      let y = 0;
      for (let k = 0; k < TAPS; k++) y += taps[k] * r[from + TAPS - 1 - k];
      if (y > this.peak) this.peak = y; else if (-y > this.peak) this.peak = -y;
    }
  }

  // endStep closes 100 ms; with the three before it, it is a 400 ms gating
  // block (75 % overlap), kept if above the absolute gate.
  endStep() {
    this.steps[this.done % 30] = this.sum / this.n;
    this.done++;
    this.sum = this.n = 0;
    if (this.done < 4) return;
    const p = this.mean(4), l = lufs(p);
    if (l <= HIST_MIN) return;
    const bin = Math.min(HIST_BINS - 1, Math.floor((l - HIST_MIN) / HIST_STEP));
    this.count[bin]++;
    this.power[bin] += p;
  }

  // mean is the mean square of the last k steps (fewer at the start).
  mean(k) {
    k = Math.min(k, this.done);
    let p = 0;
    for (let j = 1; j <= k; j++) p += this.steps[(this.done - j) % 30];
    return k ? p / k : 0;
  }

  // integrated gates the blocks so far: those above the absolute gate give the
  // relative gate, 10 LU below their mean; the mean of the blocks above both
  // is the programme's loudness.
  integrated() {
    let n = 0, p = 0;
    for (let b = 0; b < HIST_BINS; b++) { n += this.count[b]; p += this.power[b]; }
    if (!n) return -Infinity;
    const from = Math.max(0, Math.ceil((lufs(p / n) - 10 - HIST_MIN) / HIST_STEP));
    n = p = 0;
    for (let b = from; b < HIST_BINS; b++) { n += this.count[b]; p += this.power[b]; }
    return n ? lufs(p / n) : -Infinity;
  }

  // figures are the meter's readings; null where there is nothing to read yet
  // (or silence).
  figures() {
    const fin = (x) => (Number.isFinite(x) ? x : null);
    return { m: this.done >= 4 ? fin(lufs(this.mean(4))) : null, s: this.done >= 30 ? fin(lufs(this.mean(30))) : null,
      i: fin(this.integrated()), tp: fin(20 * Math.log10(this.peak)), seconds: this.done / 10 };
  }
}

if (typeof registerProcessor === "function") {
  // The processor posts its figures every 100 ms of sound.
  registerProcessor("loudness", class extends AudioWorkletProcessor {
    constructor() {
      super();
      this.meter = new Loudness(sampleRate);
      this.posted = 0;
    }

    process(inputs) {
      const input = inputs[0];
      if (input && input.length) this.meter.push(input);
      if (currentFrame - this.posted >= sampleRate / 10) {
        this.posted = currentFrame;
        this.port.postMessage(this.meter.figures());
      }
      return true;
    }
  });
} else {
  globalThis.Loudness = Object.assign(Loudness, { kWeighting });
}
