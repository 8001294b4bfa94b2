package com.nonpolynomial.btleplug.android.impl;

class UnexpectedCallbackException extends BluetoothException {
}
