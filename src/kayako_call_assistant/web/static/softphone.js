// The browser softphone: microphone -> μ-law 8 kHz over the media-stream protocol -> the assistant, and the
// assistant's audio back through a jitter buffer. One protocol for phone and browser: the server runs the
// same call session for both, and the browser hears exactly what a phone caller hears.
"use strict";

const $ = (id) => document.getElementById(id);
const ui = {
  call: $("call"), hangup: $("hangup"), state: $("state"), transcript: $("transcript"),
  keypad: $("keypad"), error: $("error"),
};
// Numbers for tests and the latency measurement, in ms from the caller's last voiced 20 ms frame:
// firstAudio: until any assistant audio plays (the filler counts: it is what the caller hears first);
// answer: until the reply to what the caller said starts playing.
window.softphoneStats = { firstAudio: [], answer: [], frames: 0, marks: 0, clears: 0, drained: 0, state: "idle" };

let socket = null, context = null, microphone = null, capture = null, player = null;
let streamSid = "", chunk = 0, startedAt = 0;
let lastVoiced = 0, wasVoiced = false, waitingForAudio = false, answerFor = 0, replyTagged = false;

function setState(text) {
  ui.state.textContent = text;
  window.softphoneStats.state = text;
}

let replyLine = null; // the assistant's current reply: its sentences share one line

function addLine(speaker, text, extraClass) {
  if (speaker === "assistant" && replyLine) {
    replyLine.lastChild.textContent += " " + text;
    ui.transcript.scrollTop = ui.transcript.scrollHeight;
    return;
  }
  const item = document.createElement("li");
  item.className = "turn " + speaker + (extraClass ? " " + extraClass : "");
  const who = document.createElement("span");
  who.className = "meta";
  who.textContent = speaker === "caller" ? "You" : speaker === "assistant" ? "Assistant" : "Call";
  const words = document.createElement("p");
  words.textContent = text;
  item.append(who, words);
  ui.transcript.append(item);
  replyLine = speaker === "assistant" ? item : null;
  ui.transcript.scrollTop = ui.transcript.scrollHeight;
}

function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function base64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
  return btoa(binary);
}

function unbase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

async function startCall() {
  ui.error.textContent = "";
  ui.call.disabled = true;
  ui.call.hidden = true;
  setState("Connecting…");
  try {
    const response = await fetch("/softphone/token", { method: "POST", credentials: "same-origin" });
    if (!response.ok) {
      const reason = await response.json().then((body) => body.detail, () => "");
      throw new Error(reason || "the server refused the call (" + response.status + ")");
    }
    const { token } = await response.json();
    microphone = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
    });
    context = new AudioContext({ latencyHint: "interactive" });
    await context.audioWorklet.addModule("/static/softphone-worklet.js");
    const source = context.createMediaStreamSource(microphone);
    capture = new AudioWorkletNode(context, "mulaw-capture", { numberOfOutputs: 0 });
    player = new AudioWorkletNode(context, "mulaw-player", { numberOfInputs: 0, outputChannelCount: [1] });
    source.connect(capture);
    player.connect(context.destination);
    player.port.onmessage = (event) => onPlayer(event.data);
    capture.port.onmessage = (event) => onFrame(event.data);

    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(scheme + "//" + location.host + "/softphone/media?token=" + encodeURIComponent(token));
    socket.onopen = () => {
      streamSid = "MZbrowser" + Date.now();
      startedAt = performance.now();
      chunk = 0;
      send({ event: "connected", protocol: "Call", version: "1.0.0" });
      send({
        event: "start", sequenceNumber: "1", streamSid,
        start: {
          streamSid, callSid: "CAbrowser", accountSid: "", tracks: ["inbound"], customParameters: {},
          mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
        },
      });
      setState("Connected");
      ui.hangup.hidden = false;
      ui.keypad.hidden = false;
      ui.hangup.focus();
    };
    socket.onmessage = (event) => onMessage(JSON.parse(event.data));
    socket.onclose = () => endCall("Call ended");
    socket.onerror = () => { ui.error.textContent = "The connection to the assistant failed."; };
  } catch (error) {
    ui.error.textContent = "Could not start the call: " + error.message;
    await teardown();
    ui.call.disabled = false;
    ui.call.hidden = false;
    setState("Ready");
  }
}

function onFrame({ frame, voiced }) {
  const now = performance.now();
  if (voiced) { lastVoiced = now; wasVoiced = true; waitingForAudio = false; }
  else if (wasVoiced && now - lastVoiced > 300) { wasVoiced = false; waitingForAudio = true; }
  send({
    event: "media", streamSid,
    media: { track: "inbound", chunk: String(++chunk), timestamp: String(Math.round(now - startedAt)), payload: base64(frame) },
  });
}

function onPlayer(data) {
  if (data.type === "played") {
    window.softphoneStats.marks++;
    send({ event: "mark", streamSid, mark: { name: data.mark } });
  } else if (data.type === "cleared") {
    for (const name of data.marks) send({ event: "mark", streamSid, mark: { name } });
  } else if (data.type === "drained") {
    window.softphoneStats.drained++;
    setState("Listening");
  } else if (data.type === "started") {
    setState("Assistant speaking");
    if (waitingForAudio && lastVoiced) {
      window.softphoneStats.firstAudio.push(performance.now() - lastVoiced);
      waitingForAudio = false;
    }
  } else if (data.type === "tag" && !data.cleared && answerFor) {
    window.softphoneStats.answer.push(performance.now() - answerFor);
    answerFor = 0;
  }
}

function onMessage(message) {
  switch (message.event) {
    case "media":
      window.softphoneStats.frames++;
      player.port.postMessage({ type: "media", bytes: unbase64(message.media.payload) });
      break;
    case "mark":
      player.port.postMessage({ type: "mark", name: message.mark.name });
      break;
    case "clear":
      window.softphoneStats.clears++;
      player.port.postMessage({ type: "clear" });
      setState("Listening");
      break;
    case "transcript":
      addLine(message.speaker, message.text);
      if (message.speaker === "caller") {
        setState("Thinking");
        answerFor = lastVoiced; // the caller's words end at their last voiced frame
        replyTagged = false;
      } else if (answerFor && !replyTagged) {
        replyTagged = true; // the reply's audio follows this event: mark where it starts in the player
        player.port.postMessage({ type: "tag" });
      }
      break;
    case "cut":
      addLine("call", "You interrupted; the assistant was heard up to: " + (message.heard || "(nothing)"), "cut");
      break;
    case "state":
      replyLine = null; // the reply is complete
      if (message.finished) setState("Call finished: " + message.outcome);
      else setState("Listening (" + message.outcome.replace("_", " ") + ")");
      break;
    default:
      break; // a newer server's events: ignored, like Twilio ignores ours
  }
}

async function teardown() {
  if (capture) capture.port.postMessage("stop");
  if (player) player.port.postMessage({ type: "stop" });
  if (microphone) microphone.getTracks().forEach((track) => track.stop());
  if (context) await context.close().catch(() => {});
  capture = player = microphone = context = null;
}

async function endCall(text) {
  if (socket) {
    const open = socket;
    socket = null;
    open.onclose = null; // this end is closing it: the state shown is the one given here
    if (open.readyState === WebSocket.OPEN) {
      open.send(JSON.stringify({ event: "stop", streamSid, stop: { callSid: "" } }));
      open.close();
    }
  }
  await teardown();
  ui.hangup.hidden = true;
  ui.keypad.hidden = true;
  ui.call.disabled = false;
  ui.call.hidden = false;
  if (!ui.state.textContent.startsWith("Call finished")) setState(text);
  ui.call.focus();
}

ui.call.addEventListener("click", startCall);
ui.hangup.addEventListener("click", () => endCall("You hung up"));
ui.keypad.addEventListener("click", (event) => {
  const digit = event.target.closest("button")?.dataset.digit;
  if (!digit) return;
  send({ event: "dtmf", streamSid, dtmf: { track: "inbound_track", digit } }); // the server echoes it in the transcript
});
