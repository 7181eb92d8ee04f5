/**
 * The few Chrome extension APIs the extension uses, typed here (the project installs no @types/chrome). Promise
 * forms, as Manifest V3 offers them.
 */
declare namespace chrome {
  namespace storage {
    const local: {
      get(keys: string[] | string | null): Promise<Record<string, unknown>>;
      set(items: Record<string, unknown>): Promise<void>;
    };
  }
  namespace permissions {
    function contains(p: { origins?: string[] }): Promise<boolean>;
    function request(p: { origins?: string[] }): Promise<boolean>;
  }
  namespace scripting {
    function executeScript<R = unknown>(o: { target: { tabId: number }; files?: string[]; func?: (...args: never[]) => R; args?: unknown[] }): Promise<Array<{ result?: R }>>;
  }
  namespace tabs {
    interface Tab { id?: number; url?: string; title?: string; windowId: number }
    function query(q: { active?: boolean; currentWindow?: boolean; lastFocusedWindow?: boolean }): Promise<Tab[]>;
    function get(id: number): Promise<Tab>;
    const onActivated: { addListener(f: (info: { tabId: number; windowId: number }) => void): void };
    const onUpdated: { addListener(f: (tabId: number, change: { status?: string; url?: string }, tab: Tab) => void): void };
  }
  namespace sidePanel {
    function setPanelBehavior(o: { openPanelOnActionClick: boolean }): Promise<void>;
    function open(o: { tabId?: number; windowId?: number }): Promise<void>;
  }
  namespace contextMenus {
    function create(o: { id: string; title: string; contexts: string[] }): void;
    function removeAll(): Promise<void>;
    const onClicked: { addListener(f: (info: { menuItemId: string | number; selectionText?: string }, tab?: tabs.Tab) => void): void };
  }
  namespace i18n {
    function getMessage(name: string): string;
  }
  namespace runtime {
    const onInstalled: { addListener(f: () => void): void };
    function getURL(path: string): string;
    function getManifest(): { version: string };
  }
}
