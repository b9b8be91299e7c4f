// Soundalike for Max for Live: the logic of the [js soundalike.js] object in Soundalike.maxpat.
//
// ES5 only: Max's [js] object runs an ES5 engine (no let/const, arrow functions, classes or
// template strings). Every message this object sends leaves through one of the outlets below;
// the patcher wires them to [udpsend], [udpreceive], [umenu], [sfplay~], two comments and
// [sfinfo~] (whose channel count feeds a mono file's one channel to both ears).
//
// Results show their calibrated similarity (e.g. "92%": the chance that a result is the same
// kind of sound, docs/quality.md), asked for with /soundalike/similarity 1 each time the device
// registers with the daemon; when the daemon sends none (a model without calibration), the raw
// score ("0.93").
//
// Hot-swap: with Swap on and a Simpler (or a Drum Rack whose selected pad holds a Simpler)
// selected, Prev/Next replace Simpler's sample with the previous/next sample similar to the
// one it had when swapping began; Original puts that one back.
//
// Rules of the Live API followed here:
// - no LiveAPI object is created before [live.thisdevice] has banged (its bang is the "init"
//   message);
// - nothing is changed in the Live set from inside an observer callback: the callback only
//   schedules a Task, and the Task does the work.
//
// OSC addresses are those of docs/osc.md.

autowatch = 0;
inlets = 1;
outlets = 7;

var OUT_OSC = 0;       // -> [udpsend host port]: OSC messages, and "host h" / "port n"
var OUT_RECEIVER = 1;  // -> [udpreceive port]: "port n"
var OUT_MENU = 2;      // -> [umenu]: "clear", "append label", "set index"
var OUT_PLAYER = 3;    // -> [sfplay~ 2]: "open path", 1 (play), 0 (stop)
var OUT_STATUS = 4;    // -> [comment] status line: "set words..."
var OUT_SELECTED = 5;  // -> [comment] selected clip: "set words..."
var OUT_INFO = 6;      // -> [sfinfo~]: "open path" (its channel count sets the mono cross-feed)

var SIMPLER_CLASS = "OriginalSimpler";
var DRUM_RACK_CLASS = "DrumGroupDevice";
// What [sfplay~] plays in Max 8 and later (Live 11 and 12 bundle Max 8 or 9): AIFF, WAVE,
// MP3, OGG, FLAC, M4A, CAF and Wave64. Other files (Opus, ...) are not previewed; Load still
// loads them, and Live plays what it can.
var PLAYABLE = {wav: 1, wave: 1, aif: 1, aiff: 1, aifc: 1, mp3: 1, ogg: 1, oga: 1, flac: 1,
                m4a: 1, caf: 1, w64: 1};

var config = {
    host: "127.0.0.1",   // where the daemon runs
    port: 9000,          // the daemon's OSC port (soundalike serve --osc-port)
    replyPort: 9001,     // where this device listens for replies and pushes
    count: 10,           // results per query
    auto: 1,             // query as soon as an audio clip is selected
    audition: 1,         // preview the result the cursor lands on
    swap: 0              // Prev/Next replace the selected Simpler's sample (hot-swap)
};

var state = {
    ready: false,        // live.thisdevice has banged
    clipPath: null,      // file of the selected audio clip
    results: [],         // [{rank, path, score, similarity}], best first (similarity: 0-1 or null)
    pending: null,       // results being received: {query, count, items}
    cursor: -1,          // index into results, -1 for none
    lastQuery: null,
    resultsQuery: null,  // the query the shown results answer
    swap: null           // hot-swap: {deviceId, original, current, index, step}
};

var self = this;             // the jsthis object, for Tasks
var viewObserver = null;     // LiveAPI on "live_set view", observing detail_clip
var selectionTask = null;    // deferred handling of a selection change
var renewTask = null;        // renews the daemon subscription (it expires after an hour)
var RENEW_MS = 10 * 60 * 1000;

// ---------------------------------------------------------------- small helpers

function toText(value) {
    // LiveAPI.get returns an array; a symbol with spaces may come back in one piece or split.
    if (value === null || value === undefined) {
        return "";
    }
    if (typeof value === "object" && value.length !== undefined) {
        var parts = [];
        for (var i = 0; i < value.length; i++) {
            parts.push(String(value[i]));
        }
        value = parts.join(" ");
    }
    value = String(value);
    if (value.length >= 2 && value.charAt(0) === "\"" && value.charAt(value.length - 1) === "\"") {
        value = value.substring(1, value.length - 1);
    }
    return value;
}

function toNumber(value) {
    if (value !== null && typeof value === "object" && value.length !== undefined) {
        value = value.length ? value[0] : 0;
    }
    var n = Number(value);
    return isNaN(n) ? 0 : n;
}

function idsOf(value) {
    // ["id", 3, "id", 4] -> [3, 4]
    var ids = [];
    if (!value) {
        return ids;
    }
    for (var i = 0; i + 1 < value.length; i++) {
        if (String(value[i]) === "id") {
            ids.push(Number(value[i + 1]));
            i++;
        }
    }
    return ids;
}

function idFromNotification(args) {
    for (var i = 0; i + 1 < args.length; i++) {
        if (String(args[i]) === "id") {
            return Number(args[i + 1]);
        }
    }
    return null;
}

function basename(path) {
    var parts = String(path).split(/[\/\\]/);
    return parts[parts.length - 1];
}

function label(path) {
    // A result as people see it: its folder and file name (the last two parts of the path).
    var parts = String(path).split(/[\/\\]/);
    var kept = [];
    for (var i = 0; i < parts.length; i++) {
        if (parts[i]) {
            kept.push(parts[i]);
        }
    }
    return kept.slice(-2).join("/");
}

function extension(path) {
    var match = /\.([A-Za-z0-9]+)$/.exec(basename(path));
    return match ? match[1].toLowerCase() : "";
}

function maxPath(path) {
    // Max's file objects want forward slashes, also on Windows.
    return String(path).replace(/\\/g, "/");
}

function words(text) {
    return String(text).split(" ");
}

function status(text) {
    outlet(OUT_STATUS, ["set"].concat(words(text)));
}

function isValid(api) {
    return api && String(api.id) !== "0" && Number(api.id) !== 0;
}

function offers(api, functionName) {
    // LiveAPI.info lists the object's members, one "function name" line per function.
    var lines = String(api.info).split("\n");
    for (var i = 0; i < lines.length; i++) {
        var line = lines[i].replace(/^\s+|\s+$/g, "");
        if (line === "function " + functionName) {
            return true;
        }
    }
    return false;
}

function pathNumbers(api, pattern) {
    var match = pattern.exec(String(api.path));
    return match ? Number(match[1]) : -1;
}

function scoreText(item) {
    // The calibrated similarity as a percentage when the daemon sent one, else the raw score.
    if (item.similarity !== null && item.similarity !== undefined) {
        return Math.round(Math.max(0, Math.min(1, item.similarity)) * 100) + "%";
    }
    return Number(item.score).toFixed(2);
}

function similarityOf(args) {
    // /soundalike/result and /soundalike/cursor: rank path score [similarity] (,isf or ,isff).
    return args.length > 3 ? toNumber(args[3]) : null;
}

// ---------------------------------------------------------------- messages from the patcher

function init() {
    // [live.thisdevice] has banged: the Live API can be used from now on.
    if (state.ready) {
        return;
    }
    state.ready = true;
    outlet(OUT_OSC, "host", config.host);
    outlet(OUT_OSC, "port", config.port);
    outlet(OUT_RECEIVER, "port", config.replyPort);
    viewObserver = new LiveAPI(onViewChanged, "live_set view");
    viewObserver.property = "detail_clip";
    register();
    renewTask = new Task(register, self);
    renewTask.interval = RENEW_MS;  // the daemon forgets a subscription not renewed in an hour
    renewTask.repeat();
    var clip = new LiveAPI("live_set view detail_clip");
    scheduleSelection(isValid(clip) ? Number(clip.id) : 0);
}

function host() {
    var args = arrayfromargs(arguments);
    if (args.length && String(args[0]) === "text") {
        args.shift();  // [textedit] may prefix its output with "text"
    }
    var value = toText(args).replace(/^\s+|\s+$/g, "");
    if (!value) {
        status("Host is empty: type the daemon's address, e.g. 127.0.0.1");
        return;
    }
    config.host = value;
    outlet(OUT_OSC, "host", config.host);
    register();
}

// A UDP port number from a number box, or null (and a status line naming `what`).
function portNumber(n, what) {
    n = Math.floor(toNumber(n));
    if (n < 1 || n > 65535) {
        status(what + " port must be 1 to 65535");
        return null;
    }
    return n;
}

function port(n) {
    n = portNumber(n, "Daemon");
    if (n === null) {
        return;
    }
    config.port = n;
    outlet(OUT_OSC, "port", config.port);
    register();
}

function replyport(n) {
    n = portNumber(n, "Reply");
    if (n === null) {
        return;
    }
    config.replyPort = n;
    outlet(OUT_RECEIVER, "port", config.replyPort);
    register();
}

function count(n) {
    n = Math.floor(toNumber(n));
    config.count = Math.max(1, Math.min(100, n));  // the daemon caps count at 100
}

function auto(v) {
    config.auto = toNumber(v) ? 1 : 0;
}

function audition(v) {
    config.audition = toNumber(v) ? 1 : 0;
}

function search() {
    if (!state.clipPath) {
        status("Select an audio clip first");
        return;
    }
    query(state.clipPath);
}

function pick(index) {
    index = Math.floor(toNumber(index));
    if (index < 0 || index >= state.results.length) {
        return;
    }
    moveCursor(index, true);
    send(["/soundalike/cursor/pick", state.results[index].rank]);
}

function next() {
    if (config.swap && swapStep(1)) {
        return;
    }
    if (!state.results.length) {
        status("No results yet");
        return;
    }
    pick(Math.min(state.cursor + 1, state.results.length - 1));
}

function prev() {
    if (config.swap && swapStep(-1)) {
        return;
    }
    if (!state.results.length) {
        status("No results yet");
        return;
    }
    pick(Math.max(state.cursor - 1, 0));
}

function swap(v) {
    config.swap = toNumber(v) ? 1 : 0;
    if (!config.swap) {
        state.swap = null;
    }
}

function original() {
    // Put back the sample Simpler had when swapping began.
    var session = state.swap;
    if (!session) {
        status("Nothing to undo: swap first (Swap on, then Prev/Next)");
        return;
    }
    var device = new LiveAPI("id " + session.deviceId);
    if (!isValid(device) || !replaceSample(device, session.original)) {
        return;
    }
    session.index = -1;
    session.current = session.original;
    status("Back to the original: " + label(session.original));
}

function play() {
    var item = currentItem();
    if (!item) {
        status("Pick a result to preview");
        return;
    }
    preview(item);
}

function stop() {
    outlet(OUT_PLAYER, 0);
}

function load() {
    var item = currentItem();
    if (!item) {
        status("Nothing to load: pick a result first");
        return;
    }
    if (!state.ready) {
        status("The device is still loading");
        return;
    }
    var track = new LiveAPI("live_set view selected_track");
    if (!isValid(track)) {
        status("Select a track to load into");
        return;
    }
    var simpler = selectedSimpler();
    if (simpler.device) {
        loadIntoSimpler(simpler.device, item);
    } else if (simpler.problem) {
        status(simpler.problem);
    } else {
        loadIntoClipSlot(track, item);
    }
}

function anything() {
    // OSC messages from [udpreceive]: the OSC address is the message name.
    var address = String(messagename);
    if (address.indexOf("/soundalike/") !== 0) {
        post("soundalike: unknown message", address, "\n");
        return;
    }
    receive(address, arrayfromargs(arguments));
}

function notifydeleted() {
    // The device is being removed: stop the daemon's pushes to our port.
    send(["/soundalike/unsubscribe", config.replyPort]);
    if (renewTask) {
        renewTask.cancel();
    }
    if (selectionTask) {
        selectionTask.cancel();
    }
}

// ---------------------------------------------------------------- selection

function onViewChanged(args) {
    // Observer callback: never touch the Live set here, only schedule.
    if (!args || String(args[0]) !== "detail_clip") {
        return;
    }
    var id = idFromNotification(args);
    if (id === null) {
        return;
    }
    scheduleSelection(id);
}

function scheduleSelection(id) {
    if (selectionTask) {
        selectionTask.cancel();  // several quick clicks: only the last one counts
    }
    selectionTask = new Task(selectionChanged, self, [id]);
    selectionTask.schedule(0);
}

function selectionChanged(id) {
    if (!id) {
        state.clipPath = null;
        outlet(OUT_SELECTED, ["set"].concat(words("No clip selected")));
        return;
    }
    var clip = new LiveAPI("id " + id);
    if (toNumber(clip.get("is_audio_clip")) !== 1) {
        state.clipPath = null;
        outlet(OUT_SELECTED, ["set"].concat(words("MIDI clip: select an audio clip")));
        return;
    }
    var path = toText(clip.get("file_path"));
    if (!path) {
        state.clipPath = null;
        outlet(OUT_SELECTED, ["set"].concat(words("This clip has no file on disk")));
        return;
    }
    state.clipPath = path;
    outlet(OUT_SELECTED, ["set"].concat(words(label(path))));
    send(["/soundalike/select", path]);
    if (config.auto) {
        query(path);
    }
}

// ---------------------------------------------------------------- talking to the daemon

function send(message) {
    outlet(OUT_OSC, message);
}

function register() {
    // Replies and pushes come back to this device's [udpreceive] port, with the calibrated
    // similarity (asked for after reply_to, so that it is that port's; before subscribe, so that
    // the cursor the subscription sends carries it). A restarted daemon has forgotten all three:
    // they are sent again before every query and every RENEW_MS.
    send(["/soundalike/reply_to", config.replyPort]);
    send(["/soundalike/similarity", 1]);
    send(["/soundalike/subscribe", config.replyPort]);
}

function query(path) {
    register();
    state.lastQuery = path;
    send(["/soundalike/similar", path, config.count]);
    status("Searching for samples like " + label(path));
}

function receive(address, args) {
    if (address === "/soundalike/results/begin") {
        state.pending = {query: toText(args[0]), count: toNumber(args[1]), items: []};
    } else if (address === "/soundalike/result") {
        if (!state.pending) {
            state.pending = {query: null, count: 0, items: []};
        }
        var rank = Math.floor(toNumber(args[0]));
        if (rank >= 1) {
            state.pending.items[rank - 1] = {rank: rank, path: toText(args[1]), score: toNumber(args[2]),
                                             similarity: similarityOf(args)};
        }
    } else if (address === "/soundalike/results/end") {
        finishResults(toText(args[0]));
    } else if (address === "/soundalike/cursor") {
        followCursor(Math.floor(toNumber(args[0])), toText(args[1]), similarityOf(args));
    } else if (address === "/soundalike/error") {
        if (toText(args[0]) === "/soundalike/similarity") {
            return;  // a daemon from before calibrated similarities: scores are shown instead
        }
        status("Soundalike: " + toText(args.slice(1)) + " (" + toText(args[0]) + ")");
    } else if (address === "/soundalike/subscribed") {
        status("Connected to Soundalike at " + config.host + ":" + config.port);
    } else if (address === "/soundalike/status") {
        status("Soundalike: " + toNumber(args[0]) + " indexed, " + toNumber(args[1]) + " pending, " + toText(args[2]));
    }
    // /soundalike/reply_to, /selected, /indexed, /removed, /progress, /pong: nothing to show.
}

function finishResults(queryPath) {
    var pending = state.pending || {query: queryPath, items: []};
    state.pending = null;
    var results = [];
    for (var i = 0; i < pending.items.length; i++) {
        if (pending.items[i]) {
            results.push(pending.items[i]);
        }
    }
    state.results = results;
    state.resultsQuery = queryPath || pending.query;
    state.cursor = results.length ? 0 : -1;
    outlet(OUT_MENU, "clear");
    for (var j = 0; j < results.length; j++) {
        outlet(OUT_MENU, "append", label(results[j].path) + "  " + scoreText(results[j]));
    }
    var name = label(queryPath || pending.query || "");
    if (!results.length) {
        status("No similar samples found for " + name);
        return;
    }
    outlet(OUT_MENU, "set", 0);
    status(results.length + " samples like " + name);
    var session = state.swap;
    if (session && session.step && (queryPath || pending.query) === session.original) {
        var step = session.step;
        session.step = 0;
        if (step > 0) {
            swapTo(0);
        }
    }
}

function followCursor(rank, path, similarity) {
    var index = -1;
    if (rank >= 1 && rank <= state.results.length && state.results[rank - 1].path === path) {
        index = rank - 1;
    } else {
        for (var i = 0; i < state.results.length; i++) {
            if (state.results[i].path === path) {
                index = i;
                break;
            }
        }
    }
    if (index >= 0 && similarity !== null && similarity !== undefined) {
        state.results[index].similarity = similarity;
    }
    if (index < 0 || index === state.cursor) {
        return;  // a cursor on results this device does not show, or where it already is
    }
    if (swapping()) {
        swapTo(index);  // a controller's Prev/Next swaps too
        return;
    }
    moveCursor(index, config.audition);
}

function moveCursor(index, withPreview) {
    state.cursor = index;
    outlet(OUT_MENU, "set", index);
    var item = state.results[index];
    status(item.rank + ". " + label(item.path) + "  " + scoreText(item));
    if (withPreview) {
        preview(item);
    }
}

function currentItem() {
    if (state.cursor < 0 || state.cursor >= state.results.length) {
        return null;
    }
    return state.results[state.cursor];
}

function preview(item) {
    var ext = extension(item.path);
    if (!PLAYABLE[ext]) {
        outlet(OUT_PLAYER, 0);
        status("Max cannot preview ." + ext + " files: Load " + label(item.path) + " to hear it in Live");
        return;
    }
    // [sfinfo~] first: its channel count switches the cross-feed that puts a mono file's one
    // channel in both ears, before [sfplay~] starts.
    outlet(OUT_INFO, "open", maxPath(item.path));
    outlet(OUT_PLAYER, "open", maxPath(item.path));
    outlet(OUT_PLAYER, 1);
}

// ---------------------------------------------------------------- loading into the Live set

function loadIntoSimpler(device, item) {
    if (replaceSample(device, item.path)) {
        status("Loaded " + label(item.path) + " into Simpler");
    }
}

function sampleOf(device) {
    // The file Simpler plays, or "" (the sample is a child: live_set ... devices N sample).
    var ids = idsOf(device.get("sample"));
    if (!ids.length || !ids[0]) {
        return "";
    }
    return toText(new LiveAPI("id " + ids[0]).get("file_path"));
}

function replaceSample(device, path) {
    // SimplerDevice.replace_sample (Live 12); true when Simpler now plays path, else says why.
    var name = label(path);
    if (!offers(device, "replace_sample")) {
        status("This Live version cannot replace Simpler's sample from Max for Live: drag " + name + " onto Simpler by hand");
        return false;
    }
    device.call("replace_sample", path);
    // A LOM call that declines returns nothing: look at the sample to know.
    if (maxPath(sampleOf(device)) !== maxPath(path)) {
        status("Live did not load " + name + " into Simpler (see the Max window): drag it in by hand");
        return false;
    }
    return true;
}

function selectedSimpler() {
    // {device} for the selected track's selected Simpler, or the Simpler on the selected pad of
    // its selected Drum Rack; {problem} when a Drum Rack's pad has none; {} otherwise.
    var device = new LiveAPI("live_set view selected_track view selected_device");
    if (!isValid(device)) {
        return {};
    }
    var kind = toText(device.get("class_name"));
    if (kind === SIMPLER_CLASS) {
        return {device: device};
    }
    if (kind !== DRUM_RACK_CLASS) {
        return {};
    }
    var pad = new LiveAPI("live_set view selected_track view selected_device view selected_drum_pad");
    if (!isValid(pad)) {
        return {problem: "Select a Drum Rack pad"};
    }
    var padName = toText(pad.get("name"));
    var chains = idsOf(pad.get("chains"));
    for (var i = 0; i < chains.length; i++) {
        var devices = idsOf(new LiveAPI("id " + chains[i]).get("devices"));
        for (var j = 0; j < devices.length; j++) {
            var inner = new LiveAPI("id " + devices[j]);
            if (toText(inner.get("class_name")) === SIMPLER_CLASS) {
                return {device: inner, pad: padName};
            }
        }
    }
    return {problem: "Pad " + padName + " has no Simpler: drop a sample on it first"};
}

// ---------------------------------------------------------------- hot-swap

function swapping() {
    return config.swap && state.swap && state.resultsQuery === state.swap.original && state.results.length;
}

function swapStep(step) {
    // Prev/Next with Swap on. Returns false when there is no Simpler to swap in (Prev/Next then
    // move through the results as usual).
    var target = selectedSimpler();
    if (!target.device) {
        if (target.problem) {
            status(target.problem);
            return true;
        }
        return false;
    }
    var id = Number(target.device.id);
    var current = sampleOf(target.device);
    var session = state.swap;
    if (!session || session.deviceId !== id || maxPath(current) !== maxPath(session.current)) {
        // a new target, or its sample changed by hand: swap around what it plays now
        if (!current) {
            status("This Simpler has no sample to swap from");
            return true;
        }
        session = state.swap = {deviceId: id, original: current, current: current, index: -1, step: 0};
    }
    if (state.resultsQuery !== session.original || !state.results.length) {
        session.step = step;
        query(session.original);
        status("Looking for samples like " + label(session.original) + " to swap in");
        return true;
    }
    var index = Math.max(-1, Math.min(session.index + step, state.results.length - 1));
    if (index < 0 && session.index < 0) {
        status("This is the original: " + label(session.original));
    } else if (index === session.index) {
        status("That was the last result: " + label(state.results[index].path));
    } else if (index < 0) {
        original();
    } else {
        swapTo(index);
    }
    return true;
}

function swapTo(index) {
    var session = state.swap;
    var item = state.results[index];
    var device = new LiveAPI("id " + session.deviceId);
    if (!item || !isValid(device) || !replaceSample(device, item.path)) {
        return;
    }
    session.index = index;
    session.current = item.path;
    moveCursor(index, false);
    send(["/soundalike/cursor/pick", item.rank]);
    status("Swapped in " + item.rank + ". " + label(item.path) + "  " + scoreText(item) + " (Original: " + label(session.original) + ")");
}

function loadIntoClipSlot(track, item) {
    var name = label(item.path);
    var trackName = toText(track.get("name"));
    if (toNumber(track.get("has_audio_input")) !== 1) {
        status(trackName + " is not an audio track: select an audio track, or a Simpler, to load into");
        return;
    }
    if (toNumber(track.get("is_frozen")) === 1) {
        status(trackName + " is frozen: unfreeze it to load a clip");
        return;
    }
    var slots = idsOf(track.get("clip_slots"));
    var index = emptySlotIndex(track, slots);
    if (index < 0) {
        status("No empty clip slot on " + trackName + ": add a scene, then Load again");
        return;
    }
    var slot = new LiveAPI("id " + slots[index]);
    var version = liveVersion();
    // ClipSlot.create_audio_clip is listed before Live 12.0.5 but only works from 12.0.5 on.
    if (!offers(slot, "create_audio_clip") || (version && !atLeast(version, [12, 0, 5]))) {
        status("Loading into a clip slot needs Live 12.0.5 or later: drag " + name + " in by hand");
        return;
    }
    slot.call("create_audio_clip", item.path);
    if (toNumber(slot.get("has_clip")) !== 1) {
        status("Live did not create the clip (see the Max window): drag " + name + " in by hand");
        return;
    }
    status("Loaded " + name + " into " + trackName + ", slot " + (index + 1));
}

function liveVersion() {
    // [major, minor, bugfix] of the running Live, or null when it cannot be read.
    var app = new LiveAPI("live_app");
    if (!isValid(app)) {
        return null;
    }
    var version = [toNumber(app.call("get_major_version")), toNumber(app.call("get_minor_version")),
                   toNumber(app.call("get_bugfix_version"))];
    return version[0] > 0 ? version : null;
}

function atLeast(version, wanted) {
    for (var i = 0; i < wanted.length; i++) {
        if (version[i] !== wanted[i]) {
            return version[i] > wanted[i];
        }
    }
    return true;
}

function emptySlotIndex(track, slots) {
    // The first empty slot at or below the highlighted slot when that slot is on this track,
    // else the first empty slot from the top.
    var start = 0;
    var highlighted = new LiveAPI("live_set view highlighted_clip_slot");
    if (isValid(highlighted)) {
        var trackIndex = pathNumbers(track, /tracks (\d+)/);
        if (trackIndex >= 0 && pathNumbers(highlighted, /tracks (\d+)/) === trackIndex) {
            start = Math.max(0, pathNumbers(highlighted, /clip_slots (\d+)/));
        }
    }
    for (var pass = 0; pass < 2; pass++) {
        var from = pass === 0 ? start : 0;
        var to = pass === 0 ? slots.length : start;
        for (var i = from; i < to; i++) {
            var slot = new LiveAPI("id " + slots[i]);
            if (toNumber(slot.get("has_clip")) === 0) {
                return i;
            }
        }
    }
    return -1;
}
