// swift-tools-version:5.5
// The companion-mobile plugin's Swift package. The crate's build script (tauri-plugin, on a Mac)
// builds it with swift-rs and links the product named after the Cargo package, so the package,
// product and target are all named `companion-mobile`.

import PackageDescription

let package = Package(
    name: "companion-mobile",
    platforms: [
        .macOS(.v10_13),
        .iOS(.v14),
    ],
    products: [
        .library(
            name: "companion-mobile",
            type: .static,
            targets: ["companion-mobile"]),
    ],
    dependencies: [
        .package(name: "Tauri", path: "../.tauri/tauri-api")
    ],
    targets: [
        .target(
            name: "companion-mobile",
            dependencies: [
                .byName(name: "Tauri")
            ],
            path: "Sources")
    ]
)
