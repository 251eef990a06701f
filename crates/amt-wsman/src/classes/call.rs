//! Requests decoded into typed operations: what a device dispatches on.
//!
//! [`Call::from_request`] turns a parsed [`Request`] into a [`Call`] naming a [`KnownClass`] and,
//! for methods, a typed [`MethodCall`]. Resource URIs or methods outside the lists below are
//! typed errors ([`Error::UnknownClass`], [`Error::UnknownAction`]); a device answers those with
//! `DestinationUnreachable` / `ActionNotSupported` faults.

use super::{amt, cim, ips, MethodInput, MethodOutput, Typed};
use crate::envelope::{Enumerate, Operation, Pull, Request};
use crate::value::{Instance, SelectorSet};
use crate::Error;

macro_rules! known_classes {
    ($( $variant:ident => $ty:path ),* $(,)?) => {
        /// Every class this implementation models.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum KnownClass { $( #[doc = concat!("`", stringify!($variant), "`")] $variant, )* }

        impl KnownClass {
            /// Every known class.
            pub const ALL: &'static [KnownClass] = &[$(KnownClass::$variant),*];

            /// The class name on the wire.
            pub fn name(self) -> &'static str {
                match self { $( KnownClass::$variant => <$ty as Typed>::CLASS, )* }
            }

            /// The class for a name or resource URI.
            pub fn from_name(name: &str) -> Option<Self> {
                let name = crate::ns::class_of(name);
                $( if name == <$ty as Typed>::CLASS { return Some(KnownClass::$variant); } )*
                None
            }
        }

        /// A class instance in its typed form.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum TypedInstance { $( #[doc = concat!("`", stringify!($variant), "`")] $variant($ty), )* }

        impl TypedInstance {
            /// Converts a generic instance of a known class.
            pub fn from_instance(i: &Instance) -> Result<Self, Error> {
                $( if i.name == <$ty as Typed>::ELEMENT {
                    return Ok(TypedInstance::$variant(<$ty as Typed>::from_instance(i)?));
                } )*
                Err(Error::UnknownClass(i.name.clone()))
            }

            /// Back to the generic form.
            pub fn to_instance(&self) -> Instance {
                match self { $( TypedInstance::$variant(x) => x.to_instance(), )* }
            }

            /// The instance's class.
            pub fn class(&self) -> KnownClass {
                match self { $( TypedInstance::$variant(_) => KnownClass::$variant, )* }
            }
        }
    };
}

macro_rules! known_methods {
    ($( $variant:ident => ($ty:path, $out:path) ),* $(,)?) => {
        /// A method invocation with its typed input.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum MethodCall { $( #[doc = concat!("`", stringify!($variant), "` input")] $variant($ty), )* }

        /// A method's typed output.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum MethodResult { $( #[doc = concat!("`", stringify!($variant), "` output")] $variant($out), )* }

        impl MethodCall {
            /// Decodes `<method>_INPUT` for `class`.
            pub fn decode(class: &str, method: &str, input: &Instance) -> Result<Self, Error> {
                let class = crate::ns::class_of(class);
                $( if class == <$ty as Typed>::CLASS && method == <$ty as MethodInput>::METHOD {
                    return Ok(MethodCall::$variant(<$ty as Typed>::from_instance(input)?));
                } )*
                Err(Error::UnknownAction(format!("{}/{}", class, method)))
            }

            /// The class and method names.
            pub fn names(&self) -> (&'static str, &'static str) {
                match self { $( MethodCall::$variant(_) =>
                    (<$ty as Typed>::CLASS, <$ty as MethodInput>::METHOD), )* }
            }

            /// The generic `_INPUT` body.
            pub fn to_instance(&self) -> Instance {
                match self { $( MethodCall::$variant(x) => x.to_instance(), )* }
            }
        }

        impl MethodResult {
            /// Decodes `<method>_OUTPUT` of `class` (short name or resource URI).
            pub fn decode(class: &str, method: &str, output: &Instance) -> Result<Self, Error> {
                let class = crate::ns::class_of(class);
                $( if class == <$out as Typed>::CLASS && method == <$out as MethodOutput>::METHOD {
                    return Ok(MethodResult::$variant(<$out as Typed>::from_instance(output)?));
                } )*
                Err(Error::UnknownAction(format!("{}/{}", class, method)))
            }

            /// The generic `_OUTPUT` body.
            pub fn to_instance(&self) -> Instance {
                match self { $( MethodResult::$variant(x) => x.to_instance(), )* }
            }

            /// The method's `ReturnValue`, when it has one.
            pub fn return_code(&self) -> Option<u32> {
                match self { $( MethodResult::$variant(x) => x.return_code(), )* }
            }
        }
    };
}

include!("known.rs");

/// A request decoded into a typed operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// Get an instance.
    Get {
        /// Class asked for.
        class: KnownClass,
        /// Instance key.
        selectors: SelectorSet,
    },
    /// Replace an instance.
    Put {
        /// The new representation.
        instance: TypedInstance,
        /// Instance key.
        selectors: SelectorSet,
    },
    /// Create an instance.
    Create(TypedInstance),
    /// Delete an instance.
    Delete {
        /// Class.
        class: KnownClass,
        /// Instance key.
        selectors: SelectorSet,
    },
    /// Start an enumeration.
    Enumerate {
        /// Class enumerated.
        class: KnownClass,
        /// Options.
        options: Enumerate,
    },
    /// Continue an enumeration.
    Pull {
        /// Class enumerated.
        class: KnownClass,
        /// Pull arguments.
        pull: Pull,
    },
    /// End an enumeration.
    Release {
        /// Class enumerated.
        class: KnownClass,
        /// The context.
        context: String,
    },
    /// Invoke a method.
    Invoke {
        /// The method and its typed input.
        method: MethodCall,
        /// The instance the method is invoked on.
        selectors: SelectorSet,
    },
}

impl Call {
    /// Decodes a parsed request.
    pub fn from_request(req: &Request) -> Result<Self, Error> {
        let uri = &req.header.resource_uri;
        let class = KnownClass::from_name(uri).ok_or_else(|| Error::UnknownClass(uri.clone()))?;
        let selectors = req.header.selectors.clone();
        Ok(match &req.op {
            Operation::Get => Call::Get { class, selectors },
            Operation::Delete => Call::Delete { class, selectors },
            Operation::Put(i) => Call::Put {
                instance: TypedInstance::from_instance(i)?,
                selectors,
            },
            Operation::Create(i) => Call::Create(TypedInstance::from_instance(i)?),
            Operation::Enumerate(e) => Call::Enumerate {
                class,
                options: e.clone(),
            },
            Operation::Pull(p) => Call::Pull {
                class,
                pull: p.clone(),
            },
            Operation::Release { context } => Call::Release {
                class,
                context: context.clone(),
            },
            Operation::Invoke { method, input } => Call::Invoke {
                method: MethodCall::decode(class.name(), method, input)?,
                selectors,
            },
        })
    }
}

#[allow(unused_imports)]
use {amt as _, cim as _, ips as _};
