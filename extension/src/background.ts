/**
 * The service worker: the toolbar button opens the side panel, and "Ask modelfab about the selection" in the
 * selection's context menu opens it on that tab (the panel reads the selection itself).
 */
chrome.runtime.onInstalled.addListener(() => {
  void chrome.sidePanel.setPanelBehavior({ openPanelOnActionClick: true });
  void chrome.contextMenus.removeAll().then(() => chrome.contextMenus.create({ id: 'modelfab-selection', title: chrome.i18n.getMessage('contextMenu'), contexts: ['selection'] }));
});

chrome.contextMenus.onClicked.addListener((info, tab) => {
  if (info.menuItemId === 'modelfab-selection' && tab?.id !== undefined) void chrome.sidePanel.open({ tabId: tab.id });
});
