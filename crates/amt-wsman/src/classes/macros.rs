//! Macros that generate typed classes, method bodies and wire enums.

/// Defines a wire enum: an integer-valued constant set with `TryFrom`, [`FieldType`] and
/// `Display`. Unknown values are a typed error, never a panic.
///
/// ```ignore
/// wire_enum! {
///     /// CIM power states.
///     pub enum PowerState: u16 { /// On
///         On = 2, /// Off (hard)
///         OffHard = 8 }
/// }
/// ```
///
/// [`FieldType`]: crate::classes::FieldType
#[macro_export]
macro_rules! wire_enum {
    ($(#[$m:meta])* pub enum $name:ident : $repr:ty { $( $(#[$vm:meta])* $variant:ident = $val:expr ),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr($repr)]
        pub enum $name { $( $(#[$vm])* $variant = $val, )* }

        impl $name {
            /// Every defined value.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            /// The value on the wire.
            pub const fn value(self) -> $repr { self as $repr }
        }

        impl ::core::convert::TryFrom<$repr> for $name {
            type Error = $crate::Error;
            fn try_from(v: $repr) -> Result<Self, $crate::Error> {
                match v {
                    $( x if x == $val => Ok($name::$variant), )*
                    other => Err($crate::Error::UnknownEnumValue {
                        type_name: stringify!($name),
                        value: other as i64,
                    }),
                }
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                let s = match self { $( $name::$variant => stringify!($variant), )* };
                write!(f, "{} ({})", s, *self as $repr)
            }
        }

        impl $crate::classes::FieldType for $name {
            fn from_value(v: &$crate::value::Value) -> Result<Self, $crate::classes::FieldError> {
                let raw = <$repr as $crate::classes::FieldType>::from_value(v)?;
                match raw {
                    $( x if x == $val => Ok($name::$variant), )*
                    other => Err($crate::classes::FieldError::UnknownEnum {
                        type_name: stringify!($name),
                        value: other as i64,
                    }),
                }
            }
            fn to_value(&self) -> $crate::value::Value {
                $crate::value::Value::Text((*self as $repr).to_string())
            }
            fn write_xml(&self, name: &str, pfx: &str, _ns: &str, out: &mut String) {
                $crate::classes::__write_display_prop(out, pfx, name, *self as $repr);
            }
        }
    };
}

/// Defines a typed class (`class`), method input (`input`) or method output (`output`) body.
///
/// Fields are listed in schema order as `"WireName" => rust_name: Option<T>` or `Vec<T>`.
/// Unlisted properties land in `extra` and are written back after the listed ones.
#[macro_export]
macro_rules! wsman_struct {
    (@common $(#[$m:meta])* $name:ident, $class:expr, $element:expr,
        { $( $(#[$fm:meta])* $wire:literal => $field:ident : $ty:ty ),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $( $(#[$fm])* pub $field: $ty, )*
            /// Properties this type does not model, kept so nothing is lost.
            pub extra: Vec<$crate::value::Property>,
        }

        impl $crate::classes::Typed for $name {
            const CLASS: &'static str = $class;
            const ELEMENT: &'static str = $element;

            fn from_instance(i: &$crate::value::Instance) -> Result<Self, $crate::Error> {
                // Unused by bodies without properties (e.g. `CommitChanges_INPUT`).
                #[allow(unused_imports)]
                use $crate::classes::Prop as _;
                if i.name != $element {
                    return Err($crate::Error::WrongClass { expected: $element, found: i.name.clone() });
                }
                let mut out = $name::default();
                for p in &i.properties {
                    // A property in a foreign namespace is not this class's property: keep it
                    // in `extra` (nothing is lost) rather than reading it as one.
                    if $crate::classes::__foreign(i, p) {
                        out.extra.push(p.clone());
                        continue;
                    }
                    let r = match p.name.as_str() {
                        $( $wire => out.$field.absorb(&p.value), )*
                        _ => { out.extra.push(p.clone()); Ok(()) }
                    };
                    if let Err(e) = r {
                        return Err($crate::classes::__field_error($element, &p.name, e));
                    }
                }
                Ok(out)
            }

            fn to_instance(&self) -> $crate::value::Instance {
                // Unused by bodies without properties (e.g. `CommitChanges_INPUT`).
                #[allow(unused_imports)]
                use $crate::classes::Prop as _;
                let ns = $crate::ns::resource_uri($class);
                let mut props = Vec::new();
                $( self.$field.emit($wire, &ns, &mut props); )*
                $crate::classes::__emit_extra(&mut props, &self.extra);
                $crate::value::Instance { name: $element.to_owned(), namespace: ns, properties: props }
            }

            fn namespace() -> &'static str {
                static NS: ::std::sync::OnceLock<String> = ::std::sync::OnceLock::new();
                NS.get_or_init(|| $crate::ns::resource_uri($class))
            }

            fn write_element(&self, out: &mut String, pfx: &str) {
                let ns = <Self as $crate::classes::Typed>::namespace();
                $crate::classes::__open_element(out, pfx, $element, ns);
                self.write_props(out, pfx);
                $crate::classes::__close_element(out, pfx, $element);
            }

            fn write_props(&self, out: &mut String, pfx: &str) {
                // Unused by bodies without properties (e.g. `CommitChanges_INPUT`).
                #[allow(unused_imports)]
                use $crate::classes::Prop as _;
                let ns = <Self as $crate::classes::Typed>::namespace();
                $( self.$field.write_xml($wire, pfx, ns, out); )*
                $crate::classes::__write_extra(out, pfx, ns, &self.extra);
            }
        }
    };
    ($(#[$m:meta])* class $name:ident = $class:literal $body:tt) => {
        $crate::wsman_struct!(@common $(#[$m])* $name, $class, $class, $body);
        impl $crate::classes::WsmanClass for $name {}
    };
    ($(#[$m:meta])* input $name:ident = $class:literal . $method:literal $body:tt) => {
        $crate::wsman_struct!(@common $(#[$m])* $name, $class, concat!($method, "_INPUT"), $body);
        impl $crate::classes::MethodInput for $name {
            const METHOD: &'static str = $method;

            fn write_request_xml(
                &self,
                message_id: u64,
                selectors: &$crate::value::SelectorSet,
                out: &mut String,
            ) {
                // The envelope around this method's body never changes: build it once.
                static PARTS: ::std::sync::OnceLock<$crate::classes::MethodEnvelope> =
                    ::std::sync::OnceLock::new();
                let parts = PARTS.get_or_init($crate::classes::MethodEnvelope::of::<Self>);
                parts.write(message_id, selectors, out, |out| {
                    <Self as $crate::classes::Typed>::write_props(self, out, "h")
                });
            }
        }
    };
    ($(#[$m:meta])* output $name:ident = $class:literal . $method:literal $body:tt) => {
        $crate::wsman_struct!(@common $(#[$m])* $name, $class, concat!($method, "_OUTPUT"), $body);
        impl $crate::classes::MethodOutput for $name {
            const METHOD: &'static str = $method;
            fn return_code(&self) -> Option<u32> {
                $crate::classes::__return_code(&$crate::classes::Typed::to_instance(self))
            }
        }
    };
}
