// valet's Playwright selector engine, registered once per session as `(source)(reply)` and run
// in Playwright's isolated world, where its actions run too (so the element needs no adoption
// from the page's world). A selector body is "<key>/<local id>": the element with that id in the
// document whose indexer listens for events named <key> (see indexer.js). Nothing of this is
// on `window`: the engine asks by dispatching a <key> event, and the indexer answers with a
// `reply` event whose target is the element; both names are random.
//
// An element that is gone (or a document that was replaced) throws at once, so an action on it
// fails fast instead of waiting out its timeout.
(reply) => {
  const GONE = "valet: the element is no longer on the page";
  const CLOSED = "valet: the element is in a closed shadow root";
  let answer = null;
  // Playwright evaluates this engine in the page's world too; that copy must not stop the reply
  // on its way to the one in the isolated world, so nobody stops its propagation.
  window.addEventListener(reply, (event) => { answer = event.composedPath()[0] || null; }, { capture: true });
  const find = (body) => {
    const slash = body.lastIndexOf("/");
    answer = null;
    document.dispatchEvent(new CustomEvent(body.slice(0, slash), { detail: body.slice(slash + 1) }));
    const el = answer;
    answer = null;
    if (el === document) throw new Error(CLOSED);
    if (!el || el.nodeType !== 1) throw new Error(GONE);
    return el;
  };
  return {
    query: (root, body) => find(body),
    queryAll: (root, body) => [find(body)],
  };
}
