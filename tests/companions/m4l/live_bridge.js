// Runs max_for_live/soundalike.js against the fake Max and LOM of fake_max.js, with real UDP:
// what the script sends to [udpsend] goes to the daemon as OSC (to the host and port the
// script set), and OSC arriving on the port it gave [udpreceive] comes back into the script,
// as in Max. Commands are JSON lines on stdin (the steps of run_scenario.js, plus
// {"do": "snapshot"}, which prints the record so far as one JSON line); stdin closing ends it.
"use strict";

const dgram = require("dgram");
const readline = require("readline");
const {createMax} = require("./fake_max.js");

// ---- OSC 1.0: the types the script and the daemon use (i, f, s, h, T, F)
function pad(n) { return (n + 3) & ~3; }

function encodeString(s) {
  const bytes = Buffer.from(String(s), "utf8");
  const out = Buffer.alloc(pad(bytes.length + 1));
  bytes.copy(out);
  return out;
}

function encode(address, args) {
  let tags = ",";
  const parts = [];
  args.forEach((a) => {
    if (typeof a === "number" && Number.isInteger(a)) {
      tags += "i";
      const b = Buffer.alloc(4); b.writeInt32BE(a); parts.push(b);
    } else if (typeof a === "number") {
      tags += "f";
      const b = Buffer.alloc(4); b.writeFloatBE(a); parts.push(b);
    } else {
      tags += "s";
      parts.push(encodeString(a));
    }
  });
  return Buffer.concat([encodeString(address), encodeString(tags)].concat(parts));
}

function readString(buf, offset) {
  const end = buf.indexOf(0, offset);
  return [buf.toString("utf8", offset, end), pad(end + 1)];
}

function decode(buf) {
  let [address, offset] = readString(buf, 0);
  let tags;
  [tags, offset] = readString(buf, offset);
  const args = [];
  for (const t of tags.slice(1)) {
    if (t === "i") { args.push(buf.readInt32BE(offset)); offset += 4; }
    else if (t === "f") { args.push(buf.readFloatBE(offset)); offset += 4; }
    else if (t === "h") { args.push(Number(buf.readBigInt64BE(offset))); offset += 8; }
    else if (t === "s") { let s; [s, offset] = readString(buf, offset); args.push(s); }
    else if (t === "T") args.push(1);
    else if (t === "F") args.push(0);
    else throw new Error("unsupported OSC type " + t);
  }
  return {address, args};
}

// ---- the fake Max, wired to the network
const spec = JSON.parse(process.argv[2]);
const max = createMax(spec.lom, spec.options);
const sender = dgram.createSocket("udp4");
let target = {host: "127.0.0.1", port: 9000};
let receiver = null;
const originalOutlet = max.context.outlet;
max.context.outlet = function (n) {
  originalOutlet.apply(null, arguments);
  let args = Array.prototype.slice.call(arguments, 1);
  if (args.length === 1 && Array.isArray(args[0])) args = args[0];
  if (n === 0 && args[0] === "host") target.host = String(args[1]);
  else if (n === 0 && args[0] === "port") target.port = Number(args[1]);
  else if (n === 0 && String(args[0]).startsWith("/")) {
    sender.send(encode(String(args[0]), args.slice(1)), target.port, target.host);
  } else if (n === 1 && args[0] === "port") {
    if (receiver) receiver.close();
    receiver = dgram.createSocket("udp4");
    receiver.on("message", (data) => {
      let m;
      try { m = decode(data); } catch (e) { max.record.errors.push("bad OSC: " + e); return; }
      max.message(m.address, m.args);
      max.runTasks();
    });
    receiver.bind(Number(args[1]), "127.0.0.1");
  }
};
max.load(spec.script);

const marks = {};
const lines = readline.createInterface({input: process.stdin});
lines.on("line", (line) => {
  const step = JSON.parse(line);
  switch (step.do) {
    case "thisdevice": max.thisdevice(); break;
    case "message": max.message(step.name, step.args); break;
    case "notify": max.notify(step.id, step.property, step.args); break;
    case "tasks": max.runTasks(); break;
    case "mark": marks[step.label] = max.record.outlets.length; break;
    case "lom": Object.assign(spec.lom.objects[String(step.id)].props, step.props); break;
    case "snapshot":
      process.stdout.write(JSON.stringify(Object.assign({}, max.record, {
        marks,
        state: JSON.parse(JSON.stringify(max.context.state)),
        lom: spec.lom,
      })) + "\n");
      break;
    default: throw new Error("unknown step " + JSON.stringify(step));
  }
});
lines.on("close", () => {
  sender.close();
  if (receiver) receiver.close();
});
