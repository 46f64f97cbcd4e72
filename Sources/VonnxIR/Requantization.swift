/// QLinearMatMul's and QLinearConv's requantization multiplier a_scale·b_scale/y_scale,
/// computed in the scales' element `type` as the reference does (float16: the product rounded
/// to float16, then the quotient), so every backend requantizes alike.
public func requantizationMultiplier(_ a: Double, _ b: Double, _ y: Double, type: DataType) -> Double {
    switch type {
    case .float16: Double(Float(Float16(Float(Float16(Float(a * b))) / Float(y))))
    case .float: Double(Float(a) * Float(b) / Float(y))
    default: a * b / y
    }
}
