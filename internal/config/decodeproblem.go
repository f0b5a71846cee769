//go:build linux

package config

import (
	"errors"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// decodeProblem turns a TOML decoding error of src into a Problem with its
// line. A syntax error is where the decoder stopped reading (md then holds
// no key). A value the decoder could not store (a type mismatch) is at the
// line of its key, from locateKeys: the decoder names the key but not the
// element of an array of tables it is in, so failedElement finds that.
func decodeProblem(err error, md toml.MetaData, src string) Problem {
	var pe toml.ParseError
	isParse := errors.As(err, &pe)
	if isParse && len(md.Keys()) == 0 {
		return Problem{Line: pe.Position.Line, Key: orDash(pe.LastKey), Msg: pe.Message}
	}
	key, msg := pe.LastKey, pe.Message
	if !isParse {
		key, msg = decoderMessage(err.Error())
	}
	p := Problem{Key: orDash(key), Msg: msg}
	if parts, ok := parseKey(key); ok {
		path := strings.Join(parts, ".")
		if i, ok := failedElement(src, parts[0]); ok {
			path = join(parts[0]+"."+strconv.Itoa(i), strings.Join(parts[1:], "."))
		}
		p.Line = locateKeys(src).lineOf(path)
	}
	return p
}

// decoderMessage splits the text of a decoding error that is no
// ParseError, `toml: line 3 (last key "child.command"): incompatible
// types: ...`, into the key (as toml.Key's String spells it) and the
// message; without a key, the message is the whole text.
func decoderMessage(text string) (key, msg string) {
	const lastKey = "(last key "
	if i := strings.Index(text, lastKey); strings.HasPrefix(text, "toml: ") && i >= 0 {
		rest := text[i+len(lastKey):]
		if q, err := strconv.QuotedPrefix(rest); err == nil {
			if msg, ok := strings.CutPrefix(rest[len(q):], "): "); ok {
				key, _ = strconv.Unquote(q)
				return key, msg
			}
		}
	}
	return "", text
}

// failedElement returns the index of the first element of the array of
// tables top (child or group) that does not decode into its type, as
// the decoder reads the elements in order and stops at the first that
// fails; ok is false when top is no such array.
func failedElement(src, top string) (int, bool) {
	var elems struct {
		Child []toml.Primitive `toml:"child"`
		Group []toml.Primitive `toml:"group"`
	}
	md, err := toml.Decode(src, &elems)
	if err != nil {
		return 0, false
	}
	var list []toml.Primitive
	var decode func(toml.Primitive) error
	switch top {
	case "child":
		list, decode = elems.Child, func(p toml.Primitive) error { return md.PrimitiveDecode(p, new(fileChild)) }
	case "group":
		list, decode = elems.Group, func(p toml.Primitive) error { return md.PrimitiveDecode(p, new(fileGroup)) }
	}
	for i, p := range list {
		if decode(p) != nil {
			return i, true
		}
	}
	return 0, false
}
