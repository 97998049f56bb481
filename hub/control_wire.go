package hub

import (
	"encoding/json"
	"errors"
	"fmt"
)

// The wire form of control messages: one JSON object, "op" first, then
// the message's own fields, as every version so far has written them (a
// union of every type's fields, each omitted when empty). A node decodes
// the fields of the type op names and ignores the rest, so nodes of one
// version interoperate with those of the version before; a new type is a
// new op, which older nodes ignore (errUnknownControl).

// controlDecoders decode each op's message; reportNow is not among them:
// it never travels.
var controlDecoders = map[string]func([]byte) (controlMessage, error){
	subscribeUser{}.op():   decodeControlAs[subscribeUser],
	unsubscribeUser{}.op(): decodeControlAs[unsubscribeUser],
	disconnectUser{}.op():  decodeControlAs[disconnectUser],
	historyRemoved{}.op():  decodeControlAs[historyRemoved],
	nodeReport{}.op():      decodeControlAs[nodeReport],
	nodeLeft{}.op():        decodeControlAs[nodeLeft],
	channelsSurvey{}.op():  decodeControlAs[channelsSurvey],
	channelsReply{}.op():   decodeControlAs[channelsReply],
	sessionCommand{}.op():  decodeControlAs[sessionCommand],
	sessionAnswer{}.op():   decodeControlAs[sessionAnswer],
}

// errUnknownControl is what decodeControl returns for an op this node
// does not know.
var errUnknownControl = errors.New("unknown control op")

func decodeControlAs[M controlMessage](data []byte) (controlMessage, error) {
	var m M
	err := json.Unmarshal(data, &m)
	return m, err
}

// encodeControl writes m's wire form.
func encodeControl(m controlMessage) ([]byte, error) {
	fields, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	op, _ := json.Marshal(m.op()) // a string: never fails
	out := make([]byte, 0, len(`{"op":,`)+len(op)+len(fields))
	out = append(out, `{"op":`...)
	out = append(out, op...)
	if len(fields) > len("{}") {
		out = append(out, ',')
	}
	return append(out, fields[1:]...), nil
}

// decodeControl reads a wire form into the message its op names.
func decodeControl(data []byte) (controlMessage, error) {
	var head struct {
		Op string `json:"op"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, err
	}
	decode := controlDecoders[head.Op]
	if decode == nil {
		return nil, fmt.Errorf("%w %q", errUnknownControl, head.Op)
	}
	return decode(data)
}
