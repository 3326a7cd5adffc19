import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { parseRoute } from "./route";
import { LiveStore } from "./store";
import "./styles.css";

const store = new LiveStore();
store.start(parseRoute(location.hash) ?? "");
// Counters for the browser tests and for curious operators.
(window as unknown as { __muster: unknown }).__muster = { stats: store.stats, view: store.getView };

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App store={store} />
  </StrictMode>,
);
