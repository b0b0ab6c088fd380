//! waapc library

pub mod seclang;
