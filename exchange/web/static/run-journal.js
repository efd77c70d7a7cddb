/* The live log of a run in progress (run page): asks journal.json every 2 seconds for the lines after the last
   one shown, appends them, shows how many files were answered; when the run ends, says so once (the only
   announcement of the live region) and shows its final status, without reloading the page.
   Without JavaScript, the page's <noscript> refresh reloads it every 5 seconds instead. */
(function () {
  "use strict";
  var PERIOD = 2000, RETRY = 5000, KEPT = 1000, BADGES = {OK: "success", ECHEC: "error", IGNORE: "info"};
  var box = document.getElementById("journal");
  var scroller = document.getElementById("journal-defilement");
  if (scroller) {  // the box shows its latest lines first, as a terminal does
    scroller.scrollTop = scroller.scrollHeight;
  }
  if (!box || box.getAttribute("data-statut") !== "EN_COURS" || !window.fetch) {
    return;
  }
  var source = box.getAttribute("data-source");
  var base = box.getAttribute("data-base") || "";
  var last = parseInt(box.getAttribute("data-dernier") || "0", 10) || 0;
  var body = document.getElementById("journal-lignes");
  var progress = document.getElementById("journal-progression");
  var state = document.getElementById("journal-etat");
  var summary = document.getElementById("journal-resume");
  var shown = body ? body.rows.length : 0;
  var ended = false;

  function cell(text, cls) {
    var td = document.createElement("td");
    if (cls) { td.className = cls; }
    td.textContent = text;
    return td;
  }

  function append(line) {
    var tr = document.createElement("tr");
    tr.appendChild(cell(line.heure, "esat-nowrap"));
    var level = cell("", "");
    var badge = document.createElement("span");
    badge.className = "fr-badge fr-badge--sm fr-badge--no-icon" + (line.badge ? " fr-badge--" + line.badge : "");
    badge.textContent = line.niveau;
    level.appendChild(badge);
    tr.appendChild(level);
    tr.appendChild(cell(line.message, "esat-journal-message"));
    var file = cell("", "esat-nowrap");
    if (line.fichier) {  // the file the line is about: its page, and its account
      var link = document.createElement("a");
      link.href = base + "/fichiers/" + line.fichier;
      link.textContent = "n° " + line.fichier;
      file.appendChild(link);
      if (line.compte) {
        file.appendChild(document.createElement("br"));
        var account = document.createElement("span");
        account.className = "fr-text--xs";
        account.textContent = line.compte;
        file.appendChild(account);
      }
    }
    tr.appendChild(file);
    body.appendChild(tr);
    shown += 1;
    while (body.rows.length > KEPT) {  // a long run: the page keeps its last lines, the log page has them all
      body.deleteRow(0);
    }
  }

  function finish(status) {
    ended = true;
    var badge = document.getElementById("statut-execution");
    if (badge) {
      badge.textContent = status;
      badge.className = "fr-badge fr-badge--" + (BADGES[status] || "info");
    }
    var running = document.getElementById("en-cours");
    if (running) { running.parentNode.removeChild(running); }
    box.setAttribute("data-statut", status);
    state.textContent = "Exécution terminée : " + status + ". Rechargez la page pour voir son bilan complet.";
  }

  function poll() {
    fetch(source + "?apres=" + last, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (answer) {
        if (!answer.ok) { throw new Error("HTTP " + answer.status); }
        return answer.json();
      })
      .then(function (data) {
        var following = scroller && scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
        data.lignes.forEach(append);
        if (following) { scroller.scrollTop = scroller.scrollHeight; }  // unless the reader scrolled up
        last = data.dernier;
        if (summary && shown) { summary.firstChild.textContent = shown + (shown > 1 ? " lignes affichées. " : " ligne affichée. "); }
        if (progress && data.progression) { progress.textContent = data.progression; }
        if (data.suite) {  // more lines are waiting: ask again at once
          window.setTimeout(poll, 50);
        } else if (data.statut !== "EN_COURS" && !ended) {
          finish(data.statut);
          window.setTimeout(poll, PERIOD);  // once more: the run's last lines are written just after its end
        } else if (!ended) {
          window.setTimeout(poll, PERIOD);
        }
      })
      .catch(function () {
        if (!ended) { window.setTimeout(poll, RETRY); }
      });
  }

  window.setTimeout(poll, PERIOD);
}());
