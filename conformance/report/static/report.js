/* conv-conformance report: sort and filter the discrepancy table, open a row's detail.
   Data comes from the packed JSON block #report-data (gzip in base64, conformance/report/model.py
   pack_json), unpacked once on load; everything is built with DOM calls and textContent only, so no
   value from the results is ever parsed as HTML. */
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "cls") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c != null) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }
  function svg(tag, attrs) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }
  function num(v) {  /* results write non-finite numbers as strings: 'inf', 'nan' */
    if (typeof v === "number") return v;
    if (typeof v === "string") {
      var s = v.toLowerCase();
      if (s === "inf" || s === "infinity") return Infinity;
      if (s === "-inf" || s === "-infinity") return -Infinity;
      if (s === "nan") return NaN;
    }
    return Number(v);
  }
  function fmt(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(7)));
    if (typeof v === "string") return v;
    return JSON.stringify(v);
  }

  function fmtCell(v) {  /* compact, for the value windows: 6 significant digits, exponent when tiny */
    if (typeof v !== "number") return fmt(v);
    if (v !== 0 && Math.abs(v) < 1e-3) return v.toExponential(3).replace(/\.?0+e/, "e");
    return String(Number(v.toPrecision(6)));
  }
  /* A packed block (#report-data, #report-calls): JSON compressed with gzip, in base64 -> a promise of the value. */
  function unpack(id) {
    var block = document.getElementById(id);
    var text = block ? block.textContent.trim() : "";
    if (!text) return Promise.resolve({});
    if (typeof DecompressionStream === "undefined" || typeof Response === "undefined")
      return Promise.reject(new Error("this browser cannot unpack them (no DecompressionStream)"));
    try {
      var bin = atob(text), bytes = new Uint8Array(bin.length);
      for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
      return new Response(stream).text().then(JSON.parse);
    } catch (err) {
      return Promise.reject(err);
    }
  }
  unpack("report-data").then(start, function (err) {
    var note = document.getElementById("script-note");
    note.textContent = "The page's data could not be unpacked (" + err.message + "): the detail view, sorting, " +
      "filtering, the case view and the grouped records' lists are off. Every table on the page is complete.";
    note.hidden = false;
  });

  /* Everything that reads the page's data, once it is unpacked. */
  function start(DATA) {
    var ROWS = DATA.discrepancies;
    var table = document.getElementById("discrepancy-table");
    var tbody = table ? table.tBodies[0] : null;
    var trs = tbody ? Array.prototype.slice.call(tbody.rows) : [];
    var byIndex = {};
    trs.forEach(function (tr) { byIndex[tr.dataset.index] = tr; });

    /* ------------------------------------------------------------------ filter */
    var fText = document.getElementById("filter-text");
    var fStatus = document.getElementById("filter-status");
    var fFramework = document.getElementById("filter-framework");
    var shown = document.getElementById("shown-count");
    var noMatch = document.getElementById("no-match");
    var FIELDS = { "case": "case", "base": "base", "target": "target", "check": "check", "dtype": "dtype",
                   "status": "status", "framework": "framework", "tag": "tags" };

    function tokens(q) {
      var out = [], re = /(?:([A-Za-z]+):)?(?:"([^"]*)"|(\S+))/g, m;
      while ((m = re.exec(q)) !== null) {
        var field = m[1] && FIELDS[m[1].toLowerCase()];
        var value = m[2] !== undefined ? m[2] : m[3];
        if (m[1] && !field) { value = m[0].replace(/"/g, ""); }
        if (value) out.push({ field: field || null, value: value });
      }
      return out;
    }
    /* A discrepancy row's field for a field:value token, from its item in DATA.discrepancies. */
    function rowField(d, field) {
      var v = field === "base" ? baseOf(d.case) : d[field];
      return v === null || v === undefined ? "" : String(v);
    }
    /* A discrepancy (an item of DATA.discrepancies) against the filter; `tr` is its row where it has one. */
    function matches(d, tr, toks, status, framework) {
      if (status === "unexpected") { if (["fail", "flaky", "error", "crashed"].indexOf(d.status) < 0) return false; }
      else if (status && d.status !== status) return false;
      if (framework && d.framework !== framework) return false;
      for (var i = 0; i < toks.length; i++) {
        var t = toks[i];
        if (t.field === "tags") {
          if ((CASE_TAGS[d.case] || []).indexOf(t.value) < 0) return false;
        } else if (t.field) {
          if (rowField(d, t.field).replace(/"/g, "'") !== t.value) return false;
        } else if (searchText(d, tr).indexOf(t.value.toLowerCase()) < 0) return false;
      }
      return true;
    }
    /* A discrepancy's words for the text filter: its row's cells (case, target, dtype, check, status, the
       message with a known difference's id) and its framework; a grouped known record has the same words
       without a row. */
    function searchText(d, tr) {
      if (d._search === undefined) {
        d._search = ((tr ? tr.textContent : [d.index, d.status, d.case, d.target, d.dtype, d.check, d.ratio_text,
                                             d.known ? d.known.id : "", d.message, wasText(d)].join(" "))
                     + " " + d.framework).toLowerCase();
      }
      return d._search;
    }
    /* Against a baseline, what a record was there ("was pass", "new"), as the template marks a row;
       "" where it is the same or there is no baseline. */
    var againstBaseline = !!document.getElementById("baseline");
    function wasText(d) {
      return !againstBaseline || d.baseline_status === d.status ? "" : d.baseline_status ? "was " + d.baseline_status : "new";
    }
    /* The unsupported groups: a group's row fields (target, framework, dtypes, checks) must match; the
       case-level tokens (case:, base:, tag:, bare text) must all match one of its cases, and only the
       matching cases stay listed. */
    var gTable = document.getElementById("unsupported-table");
    var groupsShown = document.getElementById("groups-shown");
    var CASE_TAGS = DATA.case_tags || {};
    /* A group's cases come from the case view (DATA.case_view): every case with an unsupported record of
       the group's target and reason, listed once, sorted (conformance/report/groups.py). */
    /* A discrepancy's known-difference entry is an index into a table (conformance/report/model.py). */
    (DATA.discrepancies || []).forEach(function (d) {
      if (typeof d.known === "number") d.known = DATA.known[d.known];
    });
    var CV = DATA.case_view;
    function unsupportedCases() {
      var un = CV.statuses.indexOf("unsupported"), byKey = {};
      Object.keys(CV.cases).forEach(function (c) {
        CV.cases[c].forEach(function (x) {
          if (x[2] !== un) return;
          var k = x[1] + "," + (x[3] || 0);
          (byKey[k] = byKey[k] || {})[c] = true;
        });
      });
      return byKey;
    }
    var UNSUPPORTED = gTable ? unsupportedCases() : {};
    /* A group's words for the text filter besides its case ids: framework, target, status, reason (its cells). */
    var groups = gTable ? Array.prototype.slice.call(gTable.tBodies[0].rows).map(function (tr) {
      var ul = tr.querySelector("ul.group-cases"), d = tr.dataset;
      var cases = Object.keys(UNSUPPORTED[CV.targets.indexOf(d.target) + "," + ul.dataset.reason] || {}).sort();
      var g = { tr: tr, ul: ul, lis: null, shown: null, cases: cases, n: tr.querySelector("summary"),
                search: (d.framework + " " + d.target + " unsupported " + tr.cells[2].textContent).toLowerCase() };
      g.fill = function () { fillGroup(g); };
      tr._group = g;
      return g;
    }) : [];
    /* A group's case list is drawn when the group is first opened (a whole-library report has thousands
       of them); until then the filter keeps only which of its cases match (g.shown). */
    function fillGroup(g) {
      if (g.lis) return;
      var items = document.createDocumentFragment();
      g.lis = g.cases.map(function (c, k) {
        var li = el("li", { text: c });
        if (g.shown) li.hidden = !g.shown[k];
        items.appendChild(li);
        return li;
      });
      g.ul.appendChild(items);
    }
    /* The known groups: one per (target, entry); a group's records are the discrepancies of its target
       whose known difference is its entry, worst first (conformance/report/groups.py), each a link to
       its detail. The filter applies to each record as to a discrepancy row. */
    var kTable = document.getElementById("known-table");
    var knownShown = document.getElementById("known-shown");
    var KNOWN = {}, groupOf = {};
    ROWS.forEach(function (d) {
      if (d.status !== "known") return;
      var k = d.target + "\n" + (d.known && d.known.id || "");
      (KNOWN[k] = KNOWN[k] || []).push(d);
    });
    var kgroups = kTable ? Array.prototype.slice.call(kTable.tBodies[0].rows).map(function (tr) {
      var sum = tr.querySelector("summary");
      var g = { tr: tr, ul: tr.querySelector("ul.group-records"), lis: null, shown: null, n: sum, summary: sum.textContent,
                recs: KNOWN[tr.dataset.target + "\n" + tr.dataset.entry] || [] };
      g.recs.forEach(function (d) { groupOf[d.index] = g; });
      g.fill = function () { fillKnown(g); };
      tr._group = g;
      return g;
    }) : [];
    function fillKnown(g) {
      if (g.lis) return;
      var items = document.createDocumentFragment();
      g.lis = g.recs.map(function (d, k) {
        var was = wasText(d) ? el("span", { cls: "was", text: wasText(d) }) : null;
        var li = el("li", {}, [el("a", { href: "#detail=" + d.index, text: d.case }),
                               " " + d.dtype + " " + d.check + (d.ratio_text ? " " + d.ratio_text : ""),
                               was && " ", was]);
        if (g.shown) li.hidden = !g.shown[k];
        items.appendChild(li);
        return li;
      });
      g.ul.appendChild(items);
    }
    function knownGroupMatches(g, toks, status, framework) {
      var n = 0, shown = [];
      if (status && status !== "known") return false;
      if (framework && g.tr.dataset.framework !== framework) return false;
      g.recs.forEach(function (d, k) {
        var ok = matches(d, null, toks, "", "");
        shown.push(ok);
        if (g.lis) g.lis[k].hidden = !ok;
        if (ok) n++;
      });
      g.shown = toks.length ? shown : null;
      g.n.textContent = toks.length ? n + " of " + g.recs.length + " records" : g.summary;
      return n > 0;
    }
    [gTable, kTable].forEach(function (t) {
      if (!t) return;
      t.addEventListener("toggle", function (e) {  /* toggle does not bubble: caught on its way down */
        var tr = e.target.closest && e.target.closest("tr.group");
        if (tr && tr._group && e.target.open) tr._group.fill();
      }, true);
    });
    function baseOf(id) { var m = /^([^\[]*)\[(.*)\]$/.exec(id); return m && m[1] ? m[1] : id; }
    function caseMatches(c, toks, search) {
      var exact = c.replace(/"/g, "'");
      for (var i = 0; i < toks.length; i++) {
        var t = toks[i];
        if (t.field === "case") { if (exact !== t.value) return false; }
        else if (t.field === "base") { if (baseOf(exact) !== t.value) return false; }
        else if (t.field === "tags") { if ((CASE_TAGS[c] || []).indexOf(t.value) < 0) return false; }
        else if ((search + " " + c.toLowerCase()).indexOf(t.value.toLowerCase()) < 0) return false;
      }
      return true;
    }
    function groupMatches(g, toks, status, framework) {
      var d = g.tr.dataset, caseToks = [], n = 0, shown = [];
      if (status && status !== "unsupported") return false;
      if (framework && d.framework !== framework) return false;
      for (var i = 0; i < toks.length; i++) {
        var t = toks[i];
        if (t.field === "dtype" || t.field === "check") { if (d[t.field].split(" ").indexOf(t.value) < 0) return false; }
        else if (t.field === "target" || t.field === "status" || t.field === "framework") { if (d[t.field] !== t.value) return false; }
        else caseToks.push(t);
      }
      g.cases.forEach(function (c, k) {
        var ok = caseMatches(c, caseToks, g.search);
        shown.push(ok);
        if (g.lis) g.lis[k].hidden = !ok;
        if (ok) n++;
      });
      g.shown = shown;
      g.n.textContent = (caseToks.length ? n + " of " + g.cases.length : g.cases.length) + " cases";
      return n > 0;
    }
    function applyFilter() {
      var toks = tokens(fText.value), status = fStatus.value, framework = fFramework.value, n = 0, g = 0, kg = 0;
      trs.forEach(function (tr) {
        var ok = matches(ROWS[tr.dataset.index], tr, toks, status, framework);
        tr.hidden = !ok;
        if (ok) n++;
      });
      shown.textContent = n + " of " + trs.length + " shown";
      if (noMatch) noMatch.hidden = n > 0;
      groups.forEach(function (x) {
        var ok = groupMatches(x, toks, status, framework);
        x.tr.hidden = !ok;
        if (ok) g++;
      });
      if (groupsShown) groupsShown.textContent = g + " of " + groups.length + " groups shown";
      kgroups.forEach(function (x) {
        var ok = knownGroupMatches(x, toks, status, framework);
        x.tr.hidden = !ok;
        if (ok) kg++;
      });
      if (knownShown) knownShown.textContent = kg + " of " + kgroups.length + " groups shown";
    }
    if (fText) {
      fText.addEventListener("input", applyFilter);
      fStatus.addEventListener("change", applyFilter);
      fFramework.addEventListener("change", applyFilter);
      document.getElementById("filter-reset").addEventListener("click", function () {
        fText.value = ""; fStatus.value = ""; fFramework.value = ""; applyFilter();
      });
    }
    /* A coloured cell of the support matrix lists its records: its row says which case or feature, its
       column which target (data-filter on both, so that no cell repeats them). */
    Array.prototype.forEach.call(document.querySelectorAll("table.matrix"), function (mx) {
      var heads = mx.tHead.rows[0].cells;
      mx.addEventListener("click", function (e) {
        var td = e.target.closest("td"), worst = td && /^st-(\w+)$/.exec(td.className);  /* all, empty: no match */
        if (!worst || worst[1] === "pass") return;
        var col = heads[td.cellIndex];
        if (!col || !col.dataset.filter || !fText) return;
        fText.value = td.parentNode.dataset.filter + " " + col.dataset.filter;
        fStatus.value = ""; fFramework.value = ""; applyFilter();
        /* where the cell's worst records are: their own rows, or a known or unsupported group */
        document.getElementById(worst[1] === "known" || worst[1] === "unsupported" ? worst[1] : "discrepancies")
          .scrollIntoView();
      });
    });

    /* ------------------------------------------------------------------ sort */
    /* The error ratio as sorted: none as -1, NaN and inf as the worst (conformance/report/values.py). */
    function ratioRank(v) {
      if (v === null || v === undefined) return -1;
      var x = num(v);
      return isNaN(x) || !isFinite(x) ? Infinity : x;
    }
    function sortKey(tr, key, type) {
      var d = ROWS[tr.dataset.index], v;
      if (key === "severity") v = DATA.severity[d.status];
      else if (key === "ratio") v = ratioRank(d.error_ratio);
      else if (key === "message") {  /* as shown: with the known difference's id */
        var th = table.querySelector('th[data-sort="' + key + '"]');
        v = tr.cells[th.cellIndex].textContent.trim();
      } else v = d[key];
      return type === "num" ? Number(v) : String(v).toLowerCase();
    }
    if (table) {
      Array.prototype.forEach.call(table.tHead.querySelectorAll("th[data-sort]"), function (th) {
        th.querySelector("button").addEventListener("click", function () {
          var key = th.dataset.sort, type = th.dataset.type;
          /* first click: numbers (severity, ratio) worst first, text A to Z */
          var dir = th.getAttribute("aria-sort") === "ascending" ? -1
                  : th.getAttribute("aria-sort") === "descending" ? 1 : (type === "num" && key !== "index" ? -1 : 1);
          Array.prototype.forEach.call(table.tHead.querySelectorAll("th[aria-sort]"), function (o) { o.removeAttribute("aria-sort"); });
          th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
          var keyed = trs.map(function (tr) { return [sortKey(tr, key, type), Number(tr.dataset.index), tr]; });
          keyed.sort(function (a, b) {
            if (a[0] < b[0]) return -dir;
            if (a[0] > b[0]) return dir;
            return a[1] - b[1];  /* stable: ties keep the report's order */
          });
          keyed.forEach(function (k) { tbody.appendChild(k[2]); });
          trs = keyed.map(function (k) { return k[2]; });
        });
      });
    }

    /* ------------------------------------------------------------------ one case, every target */
    /* DATA.case_view: every record as [row, target, status, message, ratio], indexes into its lists
       (conformance/report/groups.py); a row whose targets disagree is marked. */
    var caseBody = document.getElementById("case-view-body");
    var casePick = document.getElementById("case-pick");
    function caseTable(id) {
      var recs = CV.cases[id];
      if (!recs) return null;
      var cols = [], rows = [], at = {};
      recs.forEach(function (x) {
        at[x[0] + "," + x[1]] = x;
        if (cols.indexOf(x[1]) < 0) cols.push(x[1]);
        if (rows.indexOf(x[0]) < 0) rows.push(x[0]);
      });
      cols.sort(function (a, b) { return a - b; });
      rows.sort(function (a, b) { return a - b; });
      var head = el("tr", {}, [el("th", { scope: "col", text: "check dtype" })].concat(
        cols.map(function (c) { return el("th", { scope: "col", text: CV.targets[c] }); })));
      var tb = el("tbody");
      rows.forEach(function (ri) {
        var tr = el("tr", {}, [el("th", { scope: "row", text: CV.rows[ri] })]), seen = {};
        cols.forEach(function (ci) {
          var x = at[ri + "," + ci];
          if (!x) { tr.appendChild(el("td", { cls: "cell empty", title: "no record", text: "\u00b7" })); return; }
          var st = CV.statuses[x[2]], msg = CV.messages[x[3] || 0];
          seen[st] = true;
          tr.appendChild(el("td", { cls: "cell st-" + st, "data-status": st, text: st,
                                    title: st + (x[4] ? ", error/bound " + x[4] : "") + (msg ? ": " + msg : "") }));
        });
        if (Object.keys(seen).length > 1) tr.className = "differs";
        tb.appendChild(tr);
      });
      return el("table", { cls: "case-grid" }, [el("caption", { text: id }), el("thead", {}, [head]), tb]);
    }
    /* The native calls, {case: {target: {dtype: call}}}, packed with gzip in base64 (#report-calls,
       conformance/report/model.py packed_calls): unpacked once, when a case or a detail first needs them. */
    var callsLoaded = null;
    function nativeCalls() {
      if (!callsLoaded) callsLoaded = unpack("report-calls");
      return callsLoaded;
    }
    function callBox(code) {
      var pre = el("pre", {}, [el("code", { text: code })]);
      var copy = el("button", { type: "button", text: "copy" });
      copy.addEventListener("click", function () {
        var done = function () { copy.textContent = "copied"; };
        if (navigator.clipboard) navigator.clipboard.writeText(code).then(done, function () { selectText(pre); });
        else selectText(pre);
      });
      return el("div", { cls: "d-call" }, [pre, copy]);
    }
    /* Fills `box` with what nativeCalls() gives for the case (fn(calls of the case) -> nodes), or says why not. */
    function withCalls(box, caseId, fn) {
      nativeCalls().then(function (all) {
        (fn(all[caseId] || {}) || []).forEach(function (n) { box.appendChild(n); });
      }, function (err) {
        box.appendChild(el("p", { cls: "hint", text: "Native calls not shown: " + err.message +
          ". `conformance show CASE_ID --results RESULTS.json` prints them." }));
      });
    }
    /* The porting view: per target, the status of each kind of check (output, gradients, shapes; over the
       case's dtypes, each dtype's status where they differ), never only the worst; why (a failure's or a
       refusal's message, per kind), and the call that computes it (report/porting.py says the same). */
    var CHECK_KINDS = [["output", ["output"]], ["gradients", ["grad_input", "grad_weight", "grad_bias"]],
                       ["shapes", ["output_shape", "weight_shape", "param_count"]]];
    function kindOf(check) {
      for (var i = 0; i < CHECK_KINDS.length; i++) if (CHECK_KINDS[i][1].indexOf(check) >= 0) return i;
      return -1;
    }
    function kindCells(xs) {
      var perDtype = {}, worst = null;
      xs.forEach(function (x) {
        var dtype = CV.rows[x[0]].split(" ")[1], s = CV.statuses[x[2]], w = perDtype[dtype];
        if (!w || DATA.severity[s] > DATA.severity[w]) perDtype[dtype] = s;
        if (!worst || DATA.severity[s] > DATA.severity[CV.statuses[worst[2]]]) worst = x;
      });
      var byStatus = {};
      Object.keys(perDtype).sort().forEach(function (d) { (byStatus[perDtype[d]] = byStatus[perDtype[d]] || []).push(d); });
      var statuses = Object.keys(byStatus);
      var pills = statuses.map(function (st) {
        return el("span", { cls: "pill st-" + st, text: st + (statuses.length > 1 ? " (" + byStatus[st].join(", ") + ")" : "") });
      });
      return { pills: pills, worst: worst };
    }
    function portingTable(id) {
      var box = el("div", { cls: "porting" }), recs = CV.cases[id] || [], kinds = {};
      recs.forEach(function (x) {
        var k = kindOf(CV.rows[x[0]].split(" ")[0]);
        if (k < 0) return;
        kinds[x[1]] = kinds[x[1]] || [[], [], []];
        kinds[x[1]][k].push(x);
      });
      withCalls(box, id, function (calls) {
        var tb = el("tbody");
        Object.keys(kinds).map(Number).sort(function (a, b) { return a - b; }).forEach(function (ti) {
          var target = CV.targets[ti], byDtype = calls[target] || {}, why = [];
          var dtypes = Object.keys(byDtype).sort(), shown = byDtype.float32 ? "float32" : dtypes[0];
          var call = shown ? el("details", {}, [el("summary", { text: "the call" + (dtypes.length > 1 ? " (" + shown + ")" : "") }),
                                                 callBox(byDtype[shown])]) : el("span", { cls: "hint", text: "none recorded" });
          var cells = kinds[ti].map(function (xs, k) {
            if (!xs.length) return el("td", { cls: "cell empty", text: "\u00b7" });
            var c = kindCells(xs), st = CV.statuses[c.worst[2]];
            if (st !== "pass") why.push(CHECK_KINDS[k][0] + ": " + (CV.messages[c.worst[3] || 0] || st));
            return el("td", {}, c.pills);
          });
          tb.appendChild(el("tr", {}, [el("th", { scope: "row", text: target })].concat(cells).concat([
            el("td", { cls: "why", text: why.join("; ") }), el("td", {}, [call])])));
        });
        return [el("table", { cls: "porting-table" }, [el("caption", { text: "Porting " + id + ": what computes it on each target, per check" }),
          el("thead", {}, [el("tr", {}, ["target", "output", "gradients", "shapes", "why", "native call"].map(function (h) {
            return el("th", { scope: "col", text: h }); }))]), tb])];
      });
      return box;
    }
    function showCase(id, fromHash) {
      var t = caseTable(id);
      if (!t || !caseBody) return;
      caseBody.textContent = "";
      caseBody.appendChild(t);
      caseBody.appendChild(portingTable(id));
      if (casePick) casePick.value = id;
      if (!fromHash && history.replaceState) history.replaceState(null, "", "#case=" + encodeURIComponent(id));
      if (caseBody.scrollIntoView) caseBody.scrollIntoView({ block: "start" });
    }
    if (casePick) {
      casePick.addEventListener("focus", function () {
        var list = document.getElementById("case-list");
        if (list.options.length) return;  /* filled once, on first use */
        Object.keys(CV.cases).forEach(function (c) { list.appendChild(el("option", { value: c })); });
      });
      casePick.addEventListener("change", function () { showCase(casePick.value); });
    }
    if (gTable) {
      gTable.addEventListener("click", function (e) {
        var li = e.target;
        if (li.tagName === "LI" && li.parentNode.classList.contains("group-cases")) showCase(li.textContent);
      });
    }

    /* ------------------------------------------------------------------ detail */
    var drawer = document.getElementById("detail");
    var body = document.getElementById("detail-body");
    var title = document.getElementById("detail-title");
    var current = null;

    function colour(r) {
      /* within the bound (ratio <= 1): light to mid blue on a log scale from 1e-4;
         beyond it: yellow, orange, dark red from 1 to 1000 and more. */
      if (r === null || r === undefined || r === 0) return "#f3f5f7";
      if (!isFinite(r) || isNaN(r)) return "#67001f";
      var lo = [[241, 245, 249], [74, 120, 168]];
      var hi = [[254, 224, 139], [244, 109, 67], [165, 0, 38]];
      function mix(a, b, t) { return "rgb(" + a.map(function (x, i) { return Math.round(x + (b[i] - x) * t); }).join(",") + ")"; }
      var l = Math.log10(r);
      if (r <= 1) { return mix(lo[0], lo[1], Math.min(1, Math.max(0, (l + 4) / 4))); }
      var t = Math.min(1, l / 3);
      return t < 0.5 ? mix(hi[0], hi[1], t * 2) : mix(hi[1], hi[2], (t - 0.5) * 2);
    }

    function legend() {
      var w = 240, h = 10, s = svg("svg", { width: w + 44, height: 34, role: "img", "aria-label": "colour scale of error / bound" });
      var n = 60;
      for (var i = 0; i < n; i++) {
        var l = -4 + 7 * i / (n - 1);  /* 1e-4 .. 1e3 */
        s.appendChild(svg("rect", { x: 16 + i * w / n, y: 4, width: w / n + 0.5, height: h, fill: colour(Math.pow(10, l)) }));
      }
      [[-4, "1e-4"], [-2, "0.01"], [0, "1"], [1, "10"], [3, "\u22651000"]].forEach(function (tk) {
        var x = 16 + (tk[0] + 4) / 7 * w;
        s.appendChild(svg("line", { x1: x, x2: x, y1: 2, y2: 4 + h + 3, stroke: tk[0] === 0 ? "#000" : "#888", "stroke-width": tk[0] === 0 ? 1.5 : 1 }));
        var t = svg("text", { x: x, y: 30, "text-anchor": "middle", "font-size": 10, fill: "#444" });
        t.textContent = tk[1];
        s.appendChild(t);
      });
      return el("div", { cls: "heat-legend" }, [s, el("div", { text: "error / bound per cell (max over pooled elements); 1 is the edge of the bound" })]);
    }

    function heatmap(d, row) {
      var grid = d.heatmap, shape = d.heatmap_shape || [grid.length, (grid[0] || []).length];
      var rows = grid.length, cols = (grid[0] || []).length;
      if (!rows || !cols) return null;
      var size = Math.max(4, Math.min(18, Math.floor(360 / Math.max(rows, cols))));
      var s = svg("svg", { width: cols * size + 1, height: rows * size + 1, role: "img",
                           "aria-label": "error heatmap, " + shape.join(" x ") + " elements in " + rows + " x " + cols + " cells" });
      var sr = Math.ceil(shape[0] / rows), sc = Math.ceil(shape[1] / cols);
      for (var i = 0; i < rows; i++) {
        for (var j = 0; j < cols; j++) {
          var v = num(grid[i][j]);
          var rect = svg("rect", { x: j * size + 0.5, y: i * size + 0.5, width: size, height: size, fill: colour(v),
                                   stroke: "#fff", "stroke-width": size > 6 ? 0.5 : 0 });
          var tip = svg("title");
          var r0 = i * sr, c0 = j * sc;
          tip.textContent = "rows " + r0 + (sr > 1 ? "\u2013" + Math.min(shape[0] - 1, r0 + sr - 1) : "") +
            ", cols " + c0 + (sc > 1 ? "\u2013" + Math.min(shape[1] - 1, c0 + sc - 1) : "") + ": error/bound " + fmt(grid[i][j]);
          rect.appendChild(tip);
          s.appendChild(rect);
        }
      }
      var wi = row.worst_index || [];
      if (wi.length) {
        var wr = wi.length >= 2 ? wi[wi.length - 2] : 0, wc = wi[wi.length - 1];
        var ri = Math.floor(wr / sr), ci = Math.floor(wc / sc);
        if (ri < rows && ci < cols) {
          s.appendChild(svg("rect", { x: ci * size - 1, y: ri * size - 1, width: size + 3, height: size + 3,
                                      fill: "none", stroke: "#000", "stroke-width": 2 }));
        }
      }
      var caption = "rows \u00d7 columns = the last two axes (" + shape.join(" \u00d7 ") + ")" +
        (rows !== shape[0] || cols !== shape[1] ? ", max-pooled to " + rows + " \u00d7 " + cols : "") +
        "; leading axes: max. The black square marks the worst element.";
      return el("div", { cls: "heat" }, [s, el("div", {}, [legend(), el("p", { cls: "hint", text: caption })])]);
    }

    function as2d(w) { return w.length && !Array.isArray(w[0]) ? [w] : w; }

    function windowTable(label, values, origin, worst, oneD) {
      var t = el("table", { cls: "window" }, [el("caption", { text: label })]);
      var head = el("tr", {}, [el("th", { text: "" })]);
      var rowsOrigin = oneD ? null : origin[0], colsOrigin = oneD ? origin[0] : origin[1];
      (values[0] || []).forEach(function (_, j) { head.appendChild(el("th", { text: String(colsOrigin + j) })); });
      t.appendChild(el("thead", {}, [head]));
      var tb = el("tbody");
      values.forEach(function (row, i) {
        var tr = el("tr", {}, [el("th", { text: oneD ? "" : String(rowsOrigin + i) })]);
        row.forEach(function (v, j) {
          var td = el("td", { text: fmtCell(v), title: fmt(v) });
          if (worst && worst[0] === i && worst[1] === j) td.className = "worst";
          tr.appendChild(td);
        });
        tb.appendChild(tr);
      });
      t.appendChild(tb);
      return t;
    }

    function windows(d, row) {
      var exp = d.window_expected, got = d.window_got, origin = d.window_origin || [0, 0];
      if (!exp || !got) return null;
      var oneD = exp.length && !Array.isArray(exp[0]);
      exp = as2d(exp); got = as2d(got);
      var wi = row.worst_index || [], worst = null;
      if (wi.length) {
        worst = oneD ? [0, wi[wi.length - 1] - origin[0]]
                     : [wi[wi.length - 2] - origin[0], wi[wi.length - 1] - origin[1]];
      }
      var diff = exp.map(function (r, i) { return r.map(function (v, j) {
        var a = num(v), b = num(got[i][j]);
        return isNaN(a) || isNaN(b) ? "nan" : Number((b - a).toPrecision(3));
      }); });
      var lead = wi.length > 2 ? "at leading index [" + wi.slice(0, wi.length - 2).join(", ") + "], " : "";
      return el("div", {}, [
        el("p", { cls: "hint", text: oneD ? "Along the only axis; the worst element is outlined."
                                          : lead + "rows \u00d7 columns = the last two axes; the worst element is outlined." }),
        el("div", { cls: "windows" }, [windowTable("expected (oracle, float64)", exp, origin, worst, oneD),
                                       windowTable("got", got, origin, worst, oneD),
                                       windowTable("got \u2212 expected", diff, origin, worst, oneD)])
      ]);
    }

    function facts(row) {
      var dl = el("dl", { cls: "d-facts" });
      function add(k, v, cls) {
        if (v === null || v === undefined || v === "") return;
        dl.appendChild(el("dt", { text: k }));
        dl.appendChild(el("dd", { text: fmt(v), cls: cls || "" }));
      }
      var ratio = num(row.error_ratio);
      add("error / bound", row.ratio_text, row.error_ratio !== null && !(ratio <= 1) ? "over" : "");
      add("worst index", row.worst_index ? "[" + row.worst_index.join(", ") + "]" : null);
      add("expected", row.expected);
      add("got", row.got);
      add("max |got \u2212 expected|", row.max_abs_error);
      add("bound arithmetic", row.arithmetic);
      add("precision profile", row.precision);
      add("status in baseline", row.baseline_status);
      return dl;
    }

    function render(row) {
      body.textContent = "";
      title.textContent = row.case;
      drawer.className = "drawer st-" + row.status;
      var tags = el("div", { cls: "d-tags" }, [el("span", { cls: "pill st-" + row.status, text: row.status })]);
      [row.target, row.dtype, row.check].forEach(function (t) { tags.appendChild(el("span", { cls: "d-tag", text: t })); });
      tags.appendChild(el("span", { cls: "hint", text: "#" + row.index }));
      body.appendChild(tags);
      if (row.message) body.appendChild(el("div", { cls: "d-message", text: row.message }));
      if (row.known) {
        var k = el("div", { cls: "d-known" }, [el("strong", { text: "Known difference " }), el("code", { text: row.known.id || "" })]);
        if (row.known.reason) k.appendChild(el("div", { text: row.known.reason }));
        if (row.known.when && typeof row.known.when === "object") {
          var held = Object.keys(row.known.when).map(function (p) { return p + " = " + JSON.stringify(row.known.when[p]); });
          if (held.length) k.appendChild(el("div", { cls: "hint", text: "Applies where " + held.join(", ") }));
        }
        var link = row.known.link;
        if (typeof link === "string" && /^https?:\/\//i.test(link)) {
          k.appendChild(el("a", { href: link, rel: "noopener noreferrer", text: link }));
        } else if (link) k.appendChild(el("div", { text: String(link) }));
        body.appendChild(k);
      }
      body.appendChild(facts(row));
      var grid = caseTable(row.case);
      if (grid) { body.appendChild(el("h3", { text: "This case on every target" })); body.appendChild(grid); }
      story(row.story || {});
      if (row.repro) {
        body.appendChild(el("h3", { text: "Reproduce exactly" }));
        body.appendChild(callBox(row.repro + " --check"));
        body.appendChild(el("p", { cls: "hint", text: "writes a standalone script: the case's own inputs, the oracle's " +
          "expected values and bounds, this target's native call and the comparison; --check runs it and says " +
          "whether it gives this record" }));
      }
      var callAt = el("div");
      body.appendChild(callAt);
      withCalls(callAt, row.case, function (calls) {
        var code = (calls[row.target] || {})[row.dtype];
        return code ? [el("h3", { text: "Native call" }), callBox(code)] : [];
      });
      var d = row.detail;
      if (d) {
        var w = windows(d, row);
        if (w) { body.appendChild(el("h3", { text: "Values around the worst element" })); body.appendChild(w); }
        if (d.heatmap) {
          var h = heatmap(d, row);
          if (h) { body.appendChild(el("h3", { text: "Where the error is" })); body.appendChild(h); }
        }
      }
    }
    // What the attempts of the record's unit left (conformance/attempts.py).
    function story(s) {
      if (s.attempts && s.attempts.length) {
        body.appendChild(el("h3", { text: "Earlier attempts (each in another worker process)" }));
        body.appendChild(el("ol", { cls: "d-attempts" }, s.attempts.map(function (a) {
          return el("li", {}, [el("span", { cls: "pill st-" + a.status, text: a.status }), el("span", { text: " " + a.message })]);
        })));
      }
      if (s.varies) {
        body.appendChild(el("h3", { text: "Values varied between repeats" }));
        var dl = el("dl", { cls: "d-facts" });
        Object.keys(s.varies).forEach(function (k) {
          dl.appendChild(el("dt", { text: k }));
          dl.appendChild(el("dd", { text: s.varies[k].map(function (v) { return typeof v === "number" ? String(v) : fmt(v); }).join(", ") }));
        });
        body.appendChild(dl);
      }
      if (s.stderr) {
        body.appendChild(el("h3", { text: "The worker's stderr (its end)" }));
        body.appendChild(el("pre", { cls: "d-stderr" }, [el("code", { text: s.stderr })]));
      }
      if (s.rerun) {
        body.appendChild(el("h3", { text: "Rerun this unit" }));
        body.appendChild(el("pre", {}, [el("code", { text: s.rerun })]));
      }
      // The oneDNN primitives of one re-run of the unit with ONEDNN_VERBOSE=2 (conformance/run/kernel_log.py).
      if (s.kernels) {
        var said = s.kernels.rerun ? " (this check in that re-run: " + s.kernels.rerun + ")" : "";
        body.appendChild(el("h3", { text: "oneDNN kernels of a re-run with ONEDNN_VERBOSE" + said }));
        body.appendChild(el("pre", { cls: "d-kernels" }, [el("code", { text: s.kernels.lines.join("\n") })]));
      }
    }
    function selectText(node) {
      var range = document.createRange();
      range.selectNodeContents(node);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
    }

    function open(index, fromHash) {
      var row = ROWS[index];
      if (!row) return;
      current = index;
      render(row);
      drawer.hidden = false;
      trs.forEach(function (tr) { tr.classList.toggle("selected", Number(tr.dataset.index) === index); });
      var tr = byIndex[index];
      if (tr && tr.scrollIntoView && !fromHash) tr.scrollIntoView({ block: "nearest" });
      if (location.hash !== "#detail=" + index && history.replaceState) history.replaceState(null, "", "#detail=" + index);
    }
    function close() {
      drawer.hidden = true;
      current = null;
      trs.forEach(function (tr) { tr.classList.remove("selected"); });
      if (/^#detail=/.test(location.hash) && history.replaceState) history.replaceState(null, "", location.pathname + location.search);
    }
    /* Previous and next: through the shown rows of the table, or of the open record's known group. */
    function step(delta) {
      var g = current !== null && !byIndex[current] ? groupOf[current] : null;
      var seq = g ? g.recs.filter(function (d, k) { return !g.shown || g.shown[k]; }).map(function (d) { return d.index; })
                  : trs.filter(function (tr) { return !tr.hidden; }).map(function (tr) { return Number(tr.dataset.index); });
      if (!seq.length) return;
      var pos = seq.indexOf(current);
      var next = seq[Math.min(seq.length - 1, Math.max(0, pos + delta))];
      open(next);
      var node = g ? (g.lis && g.lis[g.recs.findIndex(function (d) { return d.index === next; })]) : byIndex[next];
      if (node) (node.querySelector("a") || node).focus({ preventScroll: false });
    }
    function fromHash() {
      var m = /^#detail=(\d+)$/.exec(location.hash);
      if (m) open(Number(m[1]), true);
      var c = /^#case=(.*)$/.exec(location.hash);
      if (c) showCase(decodeURIComponent(c[1]), true);
    }

    trs.forEach(function (tr) {
      tr.addEventListener("click", function () { open(Number(tr.dataset.index)); });
      tr.addEventListener("keydown", function (e) { if (e.key === "Enter") open(Number(tr.dataset.index)); });
    });
    document.getElementById("detail-close").addEventListener("click", close);
    document.getElementById("detail-prev").addEventListener("click", function () { step(-1); });
    document.getElementById("detail-next").addEventListener("click", function () { step(1); });
    document.addEventListener("keydown", function (e) {
      if (drawer.hidden || e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return;
      if (e.key === "Escape") close();
      else if (e.key === "j" || e.key === "ArrowDown") { e.preventDefault(); step(1); }
      else if (e.key === "k" || e.key === "ArrowUp") { e.preventDefault(); step(-1); }
    });
    window.addEventListener("hashchange", fromHash);
    fromHash();
  }
})();
