import org.jetbrains.kotlin.gradle.dsl.JvmTarget

// The companion-mobile plugin's Android library. Tauri's build adds it to the app's Gradle
// project (src-tauri/gen/android/tauri.settings.gradle) because the crate sets `links`.
plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "dev.iotcompanion.mobile"
    compileSdk = 37

    defaultConfig {
        // btleplug's Android backend needs API 24; the app's minSdk is 24 too.
        minSdk = 24

        testInstrumentationRunner = "androidx.test.runner.AndroidJUnitRunner"
        consumerProguardFiles("consumer-rules.pro")
    }

    sourceSets {
        getByName("main") {
            // btleplug's Java classes (droidplug and its jni-utils), which its Rust code looks
            // up by name: copied from the btleplug crate in Cargo.lock (droidplug/README.md).
            java.srcDir("droidplug/java")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_1_8
        targetCompatibility = JavaVersion.VERSION_1_8
    }
}

kotlin {
    compilerOptions {
        jvmTarget = JvmTarget.JVM_1_8
    }
}

dependencies {
    implementation("androidx.core:core-ktx:1.9.0")
    implementation("androidx.appcompat:appcompat:1.6.0")
    implementation(project(":tauri-android"))
}
