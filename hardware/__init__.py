"""Sound-device knowledge, pure: USB headset profiles (data), matching a device list to a headset, the drift
buffer between a device clock and the call clock, and signal levels for the device test. Imports nothing of ours
and no native library; ``softphone.headset`` drives the devices with PyAudio.
"""
