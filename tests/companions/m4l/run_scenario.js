// Runs max_for_live/soundalike.js against the fake Max and LOM of fake_max.js.
//
// stdin: {"script": path, "lom": {...}, "options": {...}, "steps": [...]}, each step one of
//   {"do": "thisdevice"}                              live.thisdevice bangs
//   {"do": "message", "name": n, "args": [...]}       a message into the [js] inlet
//   {"do": "notify", "id": i, "property": p, "args": [...]}   a LOM notification
//   {"do": "tasks"}                                   the scheduler runs the pending Tasks
//   {"do": "interval"}                                each repeating Task's interval passes once
//   {"do": "mark", "label": l}                        remember how many outlet calls so far
//   {"do": "lom", "id": i, "props": {...}}            change the fake Live set
// stdout: the record of everything the script did, as JSON.
"use strict";

const {createMax} = require("./fake_max.js");

let input = "";
process.stdin.on("data", (d) => { input += d; });
process.stdin.on("end", () => {
  const spec = JSON.parse(input);
  const max = createMax(spec.lom, spec.options);
  max.load(spec.script);
  const marks = {};
  spec.steps.forEach((step) => {
    switch (step.do) {
      case "thisdevice": max.thisdevice(); break;
      case "message": max.message(step.name, step.args); break;
      case "notify": max.notify(step.id, step.property, step.args); break;
      case "tasks": max.runTasks(); break;
      case "interval": max.runInterval(); break;
      case "mark": marks[step.label] = max.record.outlets.length; break;
      case "lom": Object.assign(spec.lom.objects[String(step.id)].props, step.props); break;
      default: throw new Error("unknown step " + JSON.stringify(step));
    }
  });
  const out = Object.assign({}, max.record, {
    marks,
    observers: max.observers.map((o) => ({id: o.id, property: o.property})),
    state: JSON.parse(JSON.stringify(max.context.state)),
    config: JSON.parse(JSON.stringify(max.context.config)),
  });
  process.stdout.write(JSON.stringify(out));
});
