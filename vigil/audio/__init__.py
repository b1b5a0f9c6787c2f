"""The acoustic worker: calibrated sound levels and impulsive events, never audio.

A microphone's samples live only in this process's memory, a few seconds at
most; what leaves it are levels (IEC 61672-1 LAeq, LAFmax, LCpeak, L10/L50/L90),
octave-band levels at 125 ms or coarser, and events with their features.
"""
