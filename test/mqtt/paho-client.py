# A real third-party MQTT client for the engine's tests: Debian's python3-paho-mqtt (1.6).
# Usage: paho-client.py <port> <3|5> <client id>
# Subscribes to paho/in (QoS 1), then publishes "hello from paho" on paho/out (QoS 1), waits for one message on
# paho/in and prints every event as one JSON line.
import json
import sys

import paho.mqtt.client as mqtt

port = int(sys.argv[1])
v5 = sys.argv[2] == "5"
client_id = sys.argv[3]


def say(**event):
    print(json.dumps(event), flush=True)


client = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)


def on_connect(c, userdata, flags, rc, properties=None):
    say(connected=int(rc) if not v5 else rc.value)
    c.subscribe("paho/in", qos=1)


def on_subscribe(c, userdata, mid, granted, properties=None):
    say(subscribed=[g if isinstance(g, int) else g.value for g in granted])
    c.publish("paho/out", b"hello from paho", qos=1)


def on_publish(c, userdata, mid):
    # Called when the PUBACK for the QoS 1 message arrived.
    say(published=True)


def on_message(c, userdata, message):
    say(topic=message.topic, payload=message.payload.decode(), qos=message.qos)
    c.disconnect()


client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.on_publish = on_publish
client.connect("127.0.0.1", port, keepalive=30)
client.loop_forever(timeout=1.0)
say(done=True)
