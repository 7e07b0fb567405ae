import { describe, expect, it } from "vitest";
import { appRouteFor } from "../src/router";
import { notificationTarget, openFromNotification, type WindowLike } from "../src/swclick";

const ORIGIN = "https://mobilize.example";
const EPISODE = "8d0c6a53-0c3c-4a55-9b55-7f3c2a1e0b11";

describe("notificationTarget (the service worker's notificationclick)", () => {
  it.each([
    [{ url: "/reminders/" }, `${ORIGIN}/reminders/`],
    [{ url: `/episodes/${EPISODE}/check-ins/new/` }, `${ORIGIN}/episodes/${EPISODE}/check-ins/new/`],
    [{ url: "/app/progress/" }, `${ORIGIN}/app/progress/`],
    [{ url: "https://evil.example/phish" }, `${ORIGIN}/app/`],
    [{ url: "//evil.example/phish" }, `${ORIGIN}/app/`],
    [{ url: "javascript:alert(1)" }, `${ORIGIN}/app/`],
    [{ url: 42 }, `${ORIGIN}/app/`],
    [{ url: "" }, `${ORIGIN}/app/`],
    [null, `${ORIGIN}/app/`],
    [undefined, `${ORIGIN}/app/`],
  ])("%j -> %s", (data, href) => {
    expect(notificationTarget(data, ORIGIN)).toBe(href);
  });

  it("lands every reminder kind the server sends on its screen", () => {
    // recovery/reminders/services.py _content(): the urls of walk, check-in, exercise, questionnaire, digest.
    const screens = ["/reminders/", `/episodes/${EPISODE}/check-ins/new/`, `/episodes/${EPISODE}/plan/today/`, `/episodes/${EPISODE}/questionnaires/`, "/clinician/"].map(
      (url) => appRouteFor(new URL(notificationTarget({ url }, ORIGIN)).pathname),
    );
    expect(screens).toEqual(["/app/reminders/", "/app/today/", "/app/exercises/", "/app/questionnaires/", "/app/clinic/"]);
  });
});

function fakeClients(windows: WindowLike[]) {
  const opened: string[] = [];
  return {
    opened,
    matchAll: async () => windows,
    openWindow: async (url: string) => {
      opened.push(url);
      return null;
    },
  };
}

function fakeWindow(url: string, log: string[]): WindowLike {
  return {
    url,
    focus: async () => log.push(`focus ${url}`),
    navigate: async (to: string) => log.push(`navigate ${to}`),
  };
}

describe("openFromNotification", () => {
  it("focuses the app's open window and moves it to the target", async () => {
    const log: string[] = [];
    const clients = fakeClients([fakeWindow("https://other.example/", log), fakeWindow(`${ORIGIN}/app/today/`, log)]);
    expect(await openFromNotification(clients, `${ORIGIN}/reminders/`, ORIGIN)).toBe("focused");
    expect(log).toEqual([`focus ${ORIGIN}/app/today/`, `navigate ${ORIGIN}/reminders/`]);
    expect(clients.opened).toEqual([]);
  });

  it("opens a new window when the app is not open", async () => {
    const log: string[] = [];
    const clients = fakeClients([fakeWindow("https://other.example/", log)]);
    expect(await openFromNotification(clients, `${ORIGIN}/reminders/`, ORIGIN)).toBe("opened");
    expect(clients.opened).toEqual([`${ORIGIN}/reminders/`]);
    expect(log).toEqual([]);
  });
});
