//! Conversions between property values and Rust types.

use crate::ns;
use crate::value::{EndpointReference, Property, Value};
use crate::xml::Element;

/// Why one property value could not be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldError {
    /// The text is not a valid value of the type.
    Invalid {
        /// Type expected.
        expected: &'static str,
        /// Text found (truncated).
        found: String,
    },
    /// A wire enum got a value it does not define.
    UnknownEnum {
        /// Enum name.
        type_name: &'static str,
        /// The value.
        value: i64,
    },
    /// A single-valued property appeared twice.
    Repeated,
}

fn invalid(expected: &'static str, v: &Value) -> FieldError {
    let found = match v {
        Value::Text(t) => t.chars().take(40).collect(),
        Value::Nil => "xsi:nil".into(),
        Value::Epr(_) => "an endpoint reference".into(),
        Value::Element(e) => format!("element <{}>", e.name),
    };
    FieldError::Invalid { expected, found }
}

/// A Rust type one property value converts to and from.
pub trait FieldType: Sized {
    /// Converts a property value.
    fn from_value(v: &Value) -> Result<Self, FieldError>;
    /// Converts back to a property value.
    fn to_value(&self) -> Value;
    /// Writes the property element `<pfx:name>…</pfx:name>` straight to XML (request side).
    /// The default goes through [`FieldType::to_value`]; plain text types override it to avoid
    /// the intermediate value.
    fn write_xml(&self, name: &str, pfx: &str, ns: &str, out: &mut String) {
        let prop = finish(name, ns, self.to_value());
        crate::value::write_property(out, pfx, ns, &prop, &crate::value::Prefixes::REQUEST);
    }
}

/// Writes `<pfx:name>` + escaped text + `</pfx:name>`.
#[doc(hidden)]
pub fn __write_text_prop(out: &mut String, pfx: &str, name: &str, text: &str) {
    out.push('<');
    out.push_str(pfx);
    out.push(':');
    out.push_str(name);
    out.push('>');
    crate::xml::escape_text(out, text);
    out.push_str("</");
    out.push_str(pfx);
    out.push(':');
    out.push_str(name);
    out.push('>');
}

/// Writes `<pfx:name>` + an integer + `</pfx:name>` without allocating.
#[doc(hidden)]
pub fn __write_display_prop(out: &mut String, pfx: &str, name: &str, v: impl itoa::Integer) {
    out.push('<');
    out.push_str(pfx);
    out.push(':');
    out.push_str(name);
    out.push('>');
    out.push_str(itoa::Buffer::new().format(v));
    out.push_str("</");
    out.push_str(pfx);
    out.push(':');
    out.push_str(name);
    out.push('>');
}

impl FieldType for String {
    fn from_value(v: &Value) -> Result<Self, FieldError> {
        match v {
            Value::Text(t) => Ok(t.clone()),
            _ => Err(invalid("text", v)),
        }
    }
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
    fn write_xml(&self, name: &str, pfx: &str, _ns: &str, out: &mut String) {
        __write_text_prop(out, pfx, name, self);
    }
}

impl FieldType for bool {
    fn from_value(v: &Value) -> Result<Self, FieldError> {
        match v {
            Value::Text(t) => match t.trim() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(invalid("boolean (true/false)", v)),
            },
            _ => Err(invalid("boolean (true/false)", v)),
        }
    }
    fn to_value(&self) -> Value {
        Value::Text(if *self { "true" } else { "false" }.to_owned())
    }
    fn write_xml(&self, name: &str, pfx: &str, _ns: &str, out: &mut String) {
        __write_text_prop(out, pfx, name, if *self { "true" } else { "false" });
    }
}

macro_rules! int_field {
    ($($t:ty => $name:literal),*) => {$(
        impl FieldType for $t {
            fn from_value(v: &Value) -> Result<Self, FieldError> {
                match v {
                    Value::Text(t) => t.trim().parse().map_err(|_| invalid($name, v)),
                    _ => Err(invalid($name, v)),
                }
            }
            fn to_value(&self) -> Value {
                Value::Text(self.to_string())
            }
            fn write_xml(&self, name: &str, pfx: &str, _ns: &str, out: &mut String) {
                __write_display_prop(out, pfx, name, *self);
            }
        }
    )*};
}
int_field!(u8 => "uint8", u16 => "uint16", u32 => "uint32", u64 => "uint64",
           i8 => "sint8", i16 => "sint16", i32 => "sint32", i64 => "sint64");

impl FieldType for EndpointReference {
    fn from_value(v: &Value) -> Result<Self, FieldError> {
        match v {
            Value::Epr(e) => Ok(e.clone()),
            _ => Err(invalid("endpoint reference", v)),
        }
    }
    fn to_value(&self) -> Value {
        Value::Epr(self.clone())
    }
    fn write_xml(&self, name: &str, pfx: &str, _ns: &str, out: &mut String) {
        crate::value::open_q(out, pfx, name);
        self.write_contents(out, &crate::value::Prefixes::REQUEST);
        crate::value::close(out, pfx, name);
    }
}

/// A CIM date/time property: the value wrapped in `<Datetime>`, `<Interval>`, `<Date>` or
/// `<Time>` of the CIM common namespace (DSP0230), as AMT sends `TimeOfLastRecord` etc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CimDateTime {
    /// The wrapper's local name (`Datetime`, `Interval`, `Date`, `Time`).
    pub kind: String,
    /// The wrapper's namespace (normally the CIM common namespace).
    pub ns: Option<String>,
    /// The value, e.g. `2024-01-03T00:45:41Z` or `P1DT2H`.
    pub value: String,
}

impl CimDateTime {
    /// A `<Datetime>` value in the CIM common namespace.
    pub fn datetime(value: &str) -> Self {
        CimDateTime {
            kind: "Datetime".into(),
            ns: Some(ns::CIM_COMMON.into()),
            value: value.to_owned(),
        }
    }

    /// The property element wrapping this value (the property's own name is set by the caller).
    pub fn to_element(&self, property_ns: &str) -> Element {
        let mut outer = Element::new(Some(property_ns), "");
        let mut inner = Element::new(self.ns.as_deref(), &self.kind);
        inner.push_text(self.value.clone());
        outer.push(inner);
        outer
    }
}

impl FieldType for CimDateTime {
    fn from_value(v: &Value) -> Result<Self, FieldError> {
        let Value::Element(e) = v else {
            return Err(invalid("CIM datetime", v));
        };
        let mut it = e.elements();
        let (Some(inner), None) = (it.next(), it.next()) else {
            return Err(invalid("CIM datetime", v));
        };
        if !matches!(
            inner.name.as_str(),
            "Datetime" | "Interval" | "Date" | "Time"
        ) || inner.has_element_children()
            || !e.attrs.is_empty()
            || !inner.attrs.is_empty()
        {
            return Err(invalid("CIM datetime", v));
        }
        Ok(CimDateTime {
            kind: inner.name.clone(),
            ns: inner.ns.clone(),
            value: inner.text(),
        })
    }
    fn to_value(&self) -> Value {
        // The outer element's name and namespace are replaced by the emitting property.
        Value::Element(self.to_element(""))
    }
}

/// How a struct field holds its property: `Option<T>` (at most one) or `Vec<T>` (repeated).
pub trait Prop: Default {
    /// Takes one occurrence of the property.
    fn absorb(&mut self, v: &Value) -> Result<(), FieldError>;
    /// Emits the property's occurrences.
    fn emit(&self, name: &str, ns: &str, out: &mut Vec<Property>);
    /// Writes the property's occurrences straight to XML.
    fn write_xml(&self, name: &str, pfx: &str, ns: &str, out: &mut String);
}

fn finish(name: &str, ns: &str, v: Value) -> Property {
    let value = match v {
        Value::Element(mut e) => {
            e.name = name.to_owned();
            e.ns = Some(ns.to_owned());
            Value::Element(e)
        }
        other => other,
    };
    Property {
        name: name.to_owned(),
        value,
    }
}

impl<T: FieldType> Prop for Option<T> {
    fn absorb(&mut self, v: &Value) -> Result<(), FieldError> {
        if self.is_some() {
            return Err(FieldError::Repeated);
        }
        *self = Some(T::from_value(v)?);
        Ok(())
    }
    fn emit(&self, name: &str, ns: &str, out: &mut Vec<Property>) {
        if let Some(x) = self {
            out.push(finish(name, ns, x.to_value()));
        }
    }
    fn write_xml(&self, name: &str, pfx: &str, ns: &str, out: &mut String) {
        if let Some(x) = self {
            x.write_xml(name, pfx, ns, out);
        }
    }
}

impl<T: FieldType> Prop for Vec<T> {
    fn absorb(&mut self, v: &Value) -> Result<(), FieldError> {
        self.push(T::from_value(v)?);
        Ok(())
    }
    fn emit(&self, name: &str, ns: &str, out: &mut Vec<Property>) {
        for x in self {
            out.push(finish(name, ns, x.to_value()));
        }
    }
    fn write_xml(&self, name: &str, pfx: &str, ns: &str, out: &mut String) {
        for x in self {
            x.write_xml(name, pfx, ns, out);
        }
    }
}
