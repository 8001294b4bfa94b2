-- Wi-Fi networks the user chose to remember for provisioning: the names only. Their passwords
-- live in the OS keyring (vault password `wifi-<hash of the SSID>`), never here.
CREATE TABLE wifi_networks (
    ssid TEXT PRIMARY KEY NOT NULL,
    remembered_ms INTEGER NOT NULL
);
