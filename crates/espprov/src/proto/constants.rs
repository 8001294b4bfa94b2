//! `constants.proto`: the status every protocomm response carries.

/// `enum Status`: the outcome of a protocomm request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Status {
    /// `Success = 0`.
    Success = 0,
    /// `InvalidSecScheme = 1`.
    InvalidSecScheme = 1,
    /// `InvalidProto = 2`.
    InvalidProto = 2,
    /// `TooManySessions = 3`.
    TooManySessions = 3,
    /// `InvalidArgument = 4`.
    InvalidArgument = 4,
    /// `InternalError = 5`.
    InternalError = 5,
    /// `CryptoError = 6`.
    CryptoError = 6,
    /// `InvalidSession = 7`.
    InvalidSession = 7,
}
