// A recording fake of the Max [js] globals and of the Live Object Model, for running
// max_for_live/soundalike.js under Node.
//
// The fake LOM is a table of objects by id: {type, path, props, children, functions}.
// children values are an id or a list of ids; paths are resolved by walking children from the
// roots ("live_set", and "live_set view" via the "view" child). Any LiveAPI created before
// live.thisdevice has banged, or any Live set change made while an observer callback runs,
// is recorded as a violation of the LOM rules.
"use strict";

const fs = require("fs");
const vm = require("vm");

function createMax(lom, options) {
  options = options || {};
  const record = {outlets: [], posts: [], calls: [], sets: [], violations: [], errors: []};
  const observers = [];
  const tasks = [];
  const repeating = [];
  let inNotification = false;
  let deviceReady = false;

  const objects = lom.objects;

  function object(id) {
    return objects[String(id)] || null;
  }

  function resolve(path) {
    path = String(path).trim().replace(/^"|"$/g, "");
    const tokens = path.split(/\s+/);
    if (tokens[0] === "id") {
      const id = Number(tokens[1]);
      return object(id) ? id : 0;
    }
    let id = lom.roots[tokens[0]];
    if (id === undefined) return 0;
    for (let i = 1; i < tokens.length; i++) {
      const o = object(id);
      if (!o || !o.children || !(tokens[i] in o.children)) return 0;
      const child = o.children[tokens[i]];
      if (Array.isArray(child)) {
        const index = Number(tokens[++i]);
        if (!(index >= 0 && index < child.length)) return 0;
        id = child[index];
      } else {
        id = child;
      }
      if (!id) return 0;
    }
    return id;
  }

  function LiveAPI(callback, path) {
    if (!deviceReady) {
      record.violations.push("LiveAPI created before live.thisdevice banged: " + path);
    }
    if (typeof callback !== "function") {
      path = callback;
      callback = null;
    }
    this._callback = callback;
    this._id = resolve(path);
    this._property = null;
  }

  Object.defineProperty(LiveAPI.prototype, "id", {
    get() { return String(this._id); },
    set(v) { this._id = resolve("id " + v); },
  });
  Object.defineProperty(LiveAPI.prototype, "path", {
    get() {
      const o = object(this._id);
      return o && o.path ? "\"" + o.path + "\"" : "";
    },
  });
  Object.defineProperty(LiveAPI.prototype, "unquotedpath", {
    get() { const o = object(this._id); return o && o.path ? o.path : ""; },
  });
  Object.defineProperty(LiveAPI.prototype, "type", {
    get() { const o = object(this._id); return o ? o.type : ""; },
  });
  Object.defineProperty(LiveAPI.prototype, "info", {
    get() {
      const o = object(this._id);
      if (!o) return "No object";
      const lines = ["id " + this._id, "type " + o.type];
      Object.keys(o.children || {}).forEach((c) => lines.push("child " + c));
      Object.keys(o.props || {}).forEach((p) => lines.push("property " + p));
      (o.functions || []).forEach((f) => lines.push("function " + f));
      lines.push("done");
      return lines.join("\n");
    },
  });
  Object.defineProperty(LiveAPI.prototype, "property", {
    get() { return this._property; },
    set(name) {
      this._property = name;
      observers.push({api: this, id: this._id, property: name});
    },
  });
  LiveAPI.prototype.get = function (name) {
    const o = object(this._id);
    if (!o) return [];
    if (o.props && name in o.props) {
      const v = o.props[name];
      // Like Max, a symbol with spaces may come back split: options.splitSymbols tests that.
      if (typeof v === "string" && options.splitSymbols) return v.split(" ");
      return Array.isArray(v) ? v.slice() : [v];
    }
    if (o.children && name in o.children) {
      const c = o.children[name];
      const ids = Array.isArray(c) ? c : [c];
      const out = [];
      ids.forEach((id) => out.push("id", id || 0));
      return out;
    }
    record.errors.push("get of unknown property " + name + " on id " + this._id);
    return [];
  };
  LiveAPI.prototype.getcount = function (name) {
    const o = object(this._id);
    const c = o && o.children ? o.children[name] : undefined;
    return Array.isArray(c) ? c.length : 0;
  };
  LiveAPI.prototype.set = function (name, value) {
    if (inNotification) record.violations.push("set " + name + " inside a notification");
    record.sets.push({id: this._id, name, value});
  };
  LiveAPI.prototype.call = function (name) {
    const args = Array.prototype.slice.call(arguments, 1);
    if (inNotification) record.violations.push("call " + name + " inside a notification");
    const o = object(this._id);
    if (!o || (o.functions || []).indexOf(name) < 0) {
      record.errors.push("call of a function the object does not offer: " + name);
      return;
    }
    record.calls.push({id: this._id, type: o.type, function: name, args});
    if ((o.inert || []).indexOf(name) >= 0) return;  // listed, but does nothing (older Live)
    if (name === "create_audio_clip") o.props.has_clip = 1;
    if (name === "replace_sample" && o.children && o.children.sample) {
      object(o.children.sample).props.file_path = args[0];
    }
    return o.returns ? o.returns[name] : undefined;
  };

  function Task(fn, obj, args) {
    this.fn = fn;
    this.obj = obj;
    this.args = args || [];
    this.cancelled = false;
  }
  Task.prototype.schedule = function () { this.cancelled = false; tasks.push(this); };
  Task.prototype.cancel = function () { this.cancelled = true; };
  // Max's repeating Task: every `interval` ms until cancelled; the scenario's "interval" step
  // lets each repeating task's interval pass once
  Task.prototype.repeat = function () {
    this.cancelled = false;
    if (repeating.indexOf(this) < 0) repeating.push(this);
  };

  function outlet(n) {
    let args = Array.prototype.slice.call(arguments, 1);
    if (args.length === 1 && Array.isArray(args[0])) args = args[0];
    record.outlets.push([n].concat(args));
  }

  const context = {
    outlet,
    post() { record.posts.push(Array.prototype.slice.call(arguments).join(" ")); },
    error() { record.posts.push("error: " + Array.prototype.slice.call(arguments).join(" ")); },
    messnamed() { record.outlets.push(["messnamed"].concat(Array.prototype.slice.call(arguments))); },
    arrayfromargs(a) { return Array.prototype.slice.call(a); },
    LiveAPI,
    Task,
    messagename: "",
    jsarguments: ["soundalike.js"],
    inlet: 0,
  };
  context.globalThis = context;
  vm.createContext(context);

  return {
    context,
    record,
    load(file) {
      vm.runInContext(fs.readFileSync(file, "utf8"), context, {filename: file});
    },
    thisdevice() {
      deviceReady = true;
      context.init();
    },
    message(name, args) {
      // A message into the [js] inlet: a named function, or anything() for other names.
      if (typeof context[name] === "function" && name !== "anything") {
        context[name].apply(context, args || []);
      } else {
        context.messagename = name;
        context.anything.apply(context, args || []);
      }
    },
    notify(id, property, args) {
      // Live notifies the observers of (id, property).
      observers.filter((o) => String(o.id) === String(id) && o.property === property)
        .forEach((o) => {
          inNotification = true;
          try { o.api._callback.call(o.api, args); } finally { inNotification = false; }
        });
    },
    runInterval() {
      for (const t of repeating.slice()) {
        if (!t.cancelled) t.fn.apply(t.obj, t.args);
      }
      record.intervals = repeating.filter((t) => !t.cancelled).map((t) => t.interval);
    },
    runTasks() {
      while (tasks.length) {
        const t = tasks.shift();
        if (!t.cancelled) t.fn.apply(t.obj, t.args);
      }
    },
    observers,
    lom,
  };
}

module.exports = {createMax};
