package com.nonpolynomial.btleplug.android.impl;

class BluetoothException extends RuntimeException {
    public BluetoothException() {
        super();
    }

    public BluetoothException(Throwable cause) {
        super(cause);
    }
}
