//! waapc library
