package com.nonpolynomial.btleplug.android.impl;

class NoBluetoothAdapterException extends BluetoothException {
}
