//! [`Sensitive<T>`]: a secret that does not leak by accident.

use std::fmt;

use zeroize::Zeroize;

/// A secret value: a private key, a password, a token.
///
/// - `Debug` and `Display` print `<redacted>`, so a secret never reaches a log line, an error
///   message or a panic message by way of `{:?}`.
/// - It does not implement `Serialize`, so it cannot end up in SQLite, an IPC payload or a JSON
///   file. This does not compile:
///
/// ```compile_fail,E0277
/// fn needs_serialize<T: serde::Serialize>(_: &T) {}
/// let secret = companion_core::vault::Sensitive::new(String::from("hunter2"));
/// needs_serialize(&secret);
/// ```
///
/// - Its memory is overwritten with zeros when it is dropped, which is why `T` must be
///   [`Zeroize`] (`String`, `Vec<u8>` and byte arrays are; derive it for your own types).
///
/// Reading the value is a deliberate act: [`Sensitive::expose`] (or its alias
/// [`Sensitive::expose_secret`]) makes every read easy to find in review.
pub struct Sensitive<T: Zeroize>(T);

impl<T: Zeroize> Sensitive<T> {
    /// Wraps a secret.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// Reads the secret. Keep the borrow short and never log what it returns.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// The same as [`Sensitive::expose`], under the name other secret crates use.
    pub fn expose_secret(&self) -> &T {
        &self.0
    }

    /// Changes the secret in place (for example to append to a buffer without copying it).
    pub fn expose_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: Zeroize> From<T> for Sensitive<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl From<&str> for Sensitive<String> {
    fn from(value: &str) -> Self {
        Self::new(value.to_owned())
    }
}

impl<T: Zeroize + Clone> Clone for Sensitive<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: Zeroize + Default> Default for Sensitive<T> {
    fn default() -> Self {
        Self(T::default())
    }
}

impl<T: Zeroize> Drop for Sensitive<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<T: Zeroize> fmt::Display for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Fails to compile if `$t` implements `serde::Serialize` (the trick `static_assertions` uses:
/// with a second impl the call below would be ambiguous).
macro_rules! assert_not_serialize {
    ($($t:ty),+ $(,)?) => {
        const _: fn() = || {
            trait AmbiguousIfSerialize<A> {
                fn some_item() {}
            }
            impl<T: ?Sized> AmbiguousIfSerialize<()> for T {}
            #[allow(dead_code)]
            struct Invalid;
            impl<T: ?Sized + serde::Serialize> AmbiguousIfSerialize<Invalid> for T {}
            $( let _ = <$t as AmbiguousIfSerialize<_>>::some_item; )+
        };
    };
}
pub(crate) use assert_not_serialize;

assert_not_serialize!(Sensitive<String>, Sensitive<Vec<u8>>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_print_redacted() {
        let secret = Sensitive::new(String::from("hunter2"));
        assert_eq!(
            format!("{secret:?}"),
            "<redacted>",
            "Debug must not show the secret"
        );
        assert_eq!(
            format!("{secret}"),
            "<redacted>",
            "Display must not show the secret"
        );
        assert_eq!(format!("{:#?}", Some(&secret)), "Some(\n    <redacted>,\n)");
    }

    #[test]
    fn expose_reads_the_value_deliberately() {
        let secret = Sensitive::from("hunter2");
        assert_eq!(secret.expose(), "hunter2");
        assert_eq!(secret.expose_secret(), "hunter2");
    }

    #[test]
    fn zeroize_clears_the_wrapped_value() {
        let mut secret = Sensitive::new(vec![1u8, 2, 3]);
        secret.0.zeroize();
        assert!(
            secret.expose().is_empty(),
            "zeroize empties a Vec after wiping it"
        );
    }
}
